import t from 'tap';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';
import { awaitNewLeader, FAST_REPAIR, tidefs, waitConverged, Workload } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('faults: workload through a mount survives follower and leader SIGKILL, SIGSTOP, a cut-off node and a whole-cluster SIGKILL (R=3)', async (t) => {
  const c = await startCluster(t, { nodes: 3, proxied: true, nodeArgs: FAST_REPAIR });
  const m = await mountFs(t, c.urls);
  const w = new Workload(m.dir);
  w.start(2);
  const others = (id: string) => c.nodes.map((n) => n.id).filter((x) => x !== id);
  await sleep(3000);

  // 1. A follower is SIGKILLed and comes back 4 s later: it must catch up on the blocks it missed.
  let leader = await c.leader();
  const f1 = others(leader)[0]!;
  await c.kill(f1, 'SIGKILL');
  t.comment(`SIGKILL follower ${f1}`);
  await sleep(4000);
  c.spawnNode(c.node(f1));

  // 2. The leader is SIGKILLed: measure the election and the longest write the application saw.
  await sleep(2000);
  leader = await c.leader();
  const term = (await c.status(leader)).term;
  const killedAt = Date.now();
  await c.kill(leader, 'SIGKILL');
  const next = await awaitNewLeader(c, term, 20_000);
  const electionMs = Date.now() - killedAt;
  await sleep(4000);
  const stallMs = w.maxStallMs(killedAt - 2000, killedAt + electionMs);
  t.comment(`leader ${leader} SIGKILLed: ${next} leads after ${electionMs} ms; longest write+close around it ${stallMs} ms`);
  console.log(`faults.failover.election_ms ${electionMs}`);
  console.log(`faults.failover.client_stall_ms ${stallMs}`);
  c.spawnNode(c.node(leader));

  // 3. A follower is paused (SIGSTOP) for longer than the election timeout, then continued.
  await sleep(2000);
  leader = await c.leader();
  const p = others(leader)[0]!;
  const pausedAt = Date.now();
  await c.pause(p);
  await sleep(5000);
  await c.resume(p);
  t.comment(`paused ${p} for 5 s; longest write+close meanwhile ${w.maxStallMs(pausedAt, Date.now())} ms`);

  // 4. A follower is cut off from its peers for 5 s (client links stay up).
  await sleep(2000);
  leader = await c.leader();
  const cut = others(leader)[1]!;
  c.partition([[cut], others(cut)]);
  await sleep(5000);
  c.heal();
  t.comment(`cut ${cut} off for 5 s`);
  await sleep(3000);

  await w.stop();
  t.comment(`${w.acked.size} files acknowledged (${(w.bytes / 1048576).toFixed(1)} MiB), ${w.errors.length} errors`);
  t.same(w.errors, [], 'the application saw no I/O error');
  t.ok(w.acked.size > 20, 'the workload made progress');
  t.same(await w.verify(), [], 'every acknowledged file reads back with its checksum');

  const sts = await waitConverged(c, 90_000);
  t.comment(`repair converged: ${sts.map((s) => `${s.node} holds ${s.blocks.count} blocks, copied ${s.repair?.last?.fetched ?? 0} in its last round`).join('; ')}`);
  const fsck = tidefs(['fsck', c.urls.join(',')]);
  t.comment(fsck.out.trim());
  t.equal(fsck.code, 0, 'fsck reports full redundancy and no old orphans');
  t.match(fsck.out, /full redundancy/);

  // 5. Every node SIGKILLed at once, then restarted: every acknowledged file is intact.
  await Promise.all(c.nodes.map((n) => c.kill(n.id, 'SIGKILL')));
  t.comment('SIGKILLed every node at once');
  for (const n of c.nodes) c.spawnNode(n);
  const back = Date.now();
  await c.leader(60_000);
  t.comment(`cluster back with a leader ${Date.now() - back} ms after the restart`);
  t.same(await w.verify(), [], 'after the whole-cluster crash every acknowledged file reads back intact (same mount)');
  const w2 = new Workload(m.dir);
  w2.start(1);
  await sleep(3000);
  await w2.stop();
  t.same(w2.errors, [], 'writes work again after the crash');
  t.ok(w2.acked.size > 0);
  t.same(await w2.verify(), []);
  const fsck2 = tidefs(['fsck', c.urls.join(',')]);
  t.equal(fsck2.code, 0, `fsck after the crash: ${fsck2.out.trim().split('\n').slice(-1)[0]}`);
});
