import t from 'tap';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';
import { FAST_REPAIR, tidefs, waitConverged, Workload } from './helpers.js';

t.test('faults: add a 4th node and drain-remove an old one under a workload; nothing lost, placement balanced (R=3)', async (t) => {
  const c = await startCluster(t, { nodes: 3, nodeArgs: FAST_REPAIR });
  const m = await mountFs(t, c.urls);
  const w = new Workload(m.dir, 400_000);
  w.start(2);
  await c.waitFor(() => w.acked.size >= 30, 60_000, '30 files');
  const statfsBefore = (await c.status('n1')).disk.totalBytes;

  const n4 = await c.addNode();
  const add = tidefs(['node', 'add', `n4=${n4.url}`, c.urls.slice(0, 3).join(',')]);
  t.comment(add.out.trim().split('\n').slice(-3).join('\n'));
  t.equal(add.code, 0, 'tidefs node add: n4 joined and the rebalance finished');
  await w.stop();
  const sts = await waitConverged(c, 90_000);
  const counts = sts.map((s) => s.blocks.count);
  const total = (await c.call('n1', 'refList', { limit: 4096 })).ids.length;
  t.comment(`after adding n4: ${sts.map((s) => `${s.node} ${s.blocks.count}`).join(', ')} blocks of ${total} referenced (ideal ${(total * 3 / 4).toFixed(0)} each)`);
  for (const [i, n] of counts.entries()) t.ok(n >= total * 0.5 && n <= total, `${sts[i]!.node} holds a fair share (${n} of ${total})`);
  t.equal(counts.reduce((a, b) => a + b, 0), total * 3, 'exactly 3 copies of each block, no leftovers');

  w.start(2);
  const leader = await c.leader();
  const victim = ['n1', 'n2', 'n3'].find((id) => id !== leader)!;
  const rm = tidefs(['node', 'remove', victim, c.urls.join(','), '--timeout-ms', '120000']);
  t.comment(rm.out.trim().split('\n').slice(-3).join('\n'));
  t.equal(rm.code, 0, `tidefs node remove ${victim}: drained, then removed`);
  await c.kill(victim, 'SIGTERM');
  await new Promise((r) => setTimeout(r, 3000));
  await w.stop();
  t.same(w.errors, [], 'the application saw no I/O error');
  t.same(await w.verify(), [], 'every acknowledged file reads back');
  const rest = c.nodes.map((n) => n.id).filter((id) => id !== victim);
  const st = await c.status(rest[0]!);
  t.same(st.members.map((x) => x.id).sort(), rest.sort(), 'the Raft membership no longer has the removed node');
  await waitConverged(c, 90_000, rest);
  const fsck = tidefs(['fsck', rest.map((id) => c.node(id).url).join(',')]);
  t.comment(fsck.out.trim());
  t.equal(fsck.code, 0, 'fsck: full redundancy after the removal');
  t.ok(statfsBefore > 0);
});
