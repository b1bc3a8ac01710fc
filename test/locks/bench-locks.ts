// Benchmark (not part of the default run): uncontended lock+unlock round trips per second through a
// mount, by one python3 process doing fcntl F_SETLK write / F_UNLCK on one file in a loop, and the
// same for flock. Prints `metric value unit`. BENCH_SECONDS (default 5).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster, type TestLike } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';

const run = promisify(execFile);
const LOOP = String.raw`
import fcntl, os, sys, time, struct
fd = os.open(sys.argv[1], os.O_RDWR); kind = sys.argv[2]; secs = float(sys.argv[3])
n = 0; t0 = time.monotonic()
while time.monotonic() - t0 < secs:
    if kind == 'fcntl':
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0); fcntl.lockf(fd, fcntl.LOCK_UN, 10, 0)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); fcntl.flock(fd, fcntl.LOCK_UN)
    n += 1
print(n / (time.monotonic() - t0))
`;

const teardowns: (() => unknown)[] = [];
const t: TestLike = { teardown: (fn) => { teardowns.push(fn); } };
try {
  const secs = Number(process.env.BENCH_SECONDS ?? 5);
  const cluster = await startCluster(t, { nodes: 3 });
  const m = await mountFs(t, cluster.urls);
  writeFileSync(join(m.dir, 'bench'), 'x');
  for (const kind of ['fcntl', 'flock']) {
    const { stdout } = await run('python3', ['-c', LOOP, join(m.dir, 'bench'), kind, String(secs)]);
    process.stdout.write(`lock_unlock_${kind}_per_sec ${Number(stdout.trim()).toFixed(0)} ops/s\n`);
  }
} finally {
  for (const fn of teardowns.reverse()) await fn();
}
