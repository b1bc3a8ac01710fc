import t from 'tap';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';
import { FAST_REPAIR, tidefs, waitConverged, Workload } from './helpers.js';

t.test('faults: a node stopped for good is declared lost and its replicas are rebuilt on the others (4 nodes, R=3)', async (t) => {
  const c = await startCluster(t, { nodes: 4, nodeArgs: [...FAST_REPAIR, '--lost-after-ms', '4000'] });
  const m = await mountFs(t, c.urls);
  const w = new Workload(m.dir, 1_000_000);
  w.start(2);
  await c.waitFor(() => w.bytes > 24 * 1048576, 120_000, '24 MiB written');
  await w.stop();
  t.same(w.errors, []);
  await waitConverged(c, 60_000);

  const leader = await c.leader();
  const victim = c.nodes.find((n) => n.id !== leader)!.id;
  const before = await c.status(victim);
  const survivors = c.nodes.map((n) => n.id).filter((id) => id !== victim);
  const bytesBefore = (await Promise.all(survivors.map((id) => c.status(id)))).reduce((s, x) => s + x.blocks.bytes, 0);
  await c.kill(victim, 'SIGKILL');
  const killedAt = Date.now();
  t.comment(`SIGKILLed ${victim} for good; it held ${before.blocks.count} blocks (${(before.blocks.bytes / 1048576).toFixed(1)} MiB)`);

  let lostAt = 0;
  await c.waitFor(async () => {
    const st = await c.status(leader).catch(() => null);
    if (st?.repair?.lost.includes(victim)) lostAt ||= Date.now();
    return lostAt > 0;
  }, 30_000, `${victim} declared lost`);
  t.comment(`${victim} declared lost ${lostAt - killedAt} ms after the kill`);
  const mid = await c.status(leader);
  t.ok((mid.repair?.current?.underReplicated ?? mid.repair?.last?.underReplicated ?? 0) >= 0, 'status shows the under-replicated count');

  const sts = await waitConverged(c, 120_000, survivors);
  const doneAt = Date.now();
  const copied = sts.reduce((s, x) => s + x.blocks.bytes, 0) - bytesBefore;
  const mbps = copied / 1048576 / ((doneAt - lostAt) / 1000);
  t.comment(`every block has 3 copies again ${doneAt - lostAt} ms after the declaration: ${(copied / 1048576).toFixed(1)} MiB copied, ${mbps.toFixed(1)} MiB/s (wall time, including rounds' pacing)`);
  console.log(`faults.repair.lost_node_mib_per_s ${mbps.toFixed(1)}`);
  t.ok(copied >= before.blocks.bytes * 0.9, 'about the lost node\'s data was copied to the others');

  const st = tidefs(['status', c.urls.join(',')]);
  t.comment(st.out.trim());
  t.match(st.out, new RegExp(`lost: ${victim}`), 'status names the lost node');
  t.match(st.out, /under-replicated blocks \(largest count of the nodes' last rounds\): 0/);
  const fsck = tidefs(['fsck', c.urls.join(',')]);
  t.comment(fsck.out.trim());
  t.equal(fsck.code, 0, 'fsck: full redundancy without the lost node');
  t.same(await w.verify(), [], 'every acknowledged file reads back');
});
