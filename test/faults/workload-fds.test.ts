import { readdirSync, readlinkSync } from 'node:fs';
import t from 'tap';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';
import { Workload } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Files of `dir` this process has open right now. */
function openUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + '/')) out.push(target);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

// Regression: workload.test.ts once saw EIO at close because the test process, which hosts the link
// proxies and forks node processes, had a mount file open with buffered writes when it forked a node:
// execve's close-on-exec sent FLUSH, the flush needed a quorum through the proxies, and the parent,
// blocked until that exec finished, could not run them (a 60 s deadlock, then EIO). The Workload's
// writers must therefore never hold a file of the mount open in the test process.
t.test('faults: the Workload holds no mount file open in the test process (forking a node cannot wait on a FUSE flush)', async (t) => {
  const c = await startCluster(t, { nodes: 3 });
  const m = await mountFs(t, c.urls);
  const w = new Workload(m.dir, 300_000);
  w.start(2);
  const seen = new Set<string>();
  const until = Date.now() + 4000;
  while (Date.now() < until) {
    for (const f of openUnder(m.dir)) seen.add(f);
    await sleep(2);
  }
  await w.stop();
  t.ok(w.acked.size > 5, `the workload made progress (${w.acked.size} files)`);
  t.same([...seen], [], 'no file of the mount was open in the test process');
  t.same(w.errors, []);
  t.same(await w.verify(), [], 'every acknowledged file reads back');
});
