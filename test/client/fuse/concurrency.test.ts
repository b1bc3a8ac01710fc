// Two mounts of one in-memory file system: locks are decided by the file system, not kept per mount;
// and bursts of concurrent requests are all answered, with native thread state reused, not leaked.
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { F_SETLK, F_SETLKW, F_UNLCK, FuseMount, fuseErrno } from '../../../client/fuse/binding.js';
import { MemFs } from './mem-fs.js';

const execFileP = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tidefs-fuse-'));
const mnts = [join(dir, 'a'), join(dir, 'b')];
const mem = new MemFs();
const mounts = mnts.map((m) => {
  mkdirSync(m);
  return new FuseMount(m, mem.ops(), { options: { attrTimeoutSec: 0, entryTimeoutSec: 0 } });
});
t.teardown(async () => {
  for (const m of mounts) await m.unmount().catch(() => undefined);
  for (const m of mnts) spawnSync('fusermount', ['-u', '-z', m]);
  rmSync(dir, { recursive: true, force: true });
});
for (const m of mounts) await m.mount();

const py = (code: string, path: string) =>
  execFileP('python3', ['-c', `import os, sys, json, fcntl, time, threading\nP = sys.argv[1]\n${code}`, path])
    .then(({ stdout }) => (stdout.trim() ? JSON.parse(stdout) : undefined));

t.test('a write lock taken through one mount makes the other mount\'s lockf fail with EAGAIN', async (t) => {
  // Whole-file write locks only: enough to show the decision is the file system's.
  const holders = new Map<string, bigint>();
  mem.onLock = (c) => {
    const holder = holders.get(c.path);
    if (c.lock.type === F_UNLCK) {
      if (holder === c.owner) holders.delete(c.path);
      return c.cb(0);
    }
    if (c.cmd !== F_SETLK && c.cmd !== F_SETLKW) return c.cb(0);
    if (holder !== undefined && holder !== c.owner) return c.cb(fuseErrno('EAGAIN'));
    holders.set(c.path, c.owner);
    c.cb(0);
  };
  await py(`open(P, 'w').close()`, join(mnts[0]!, 'shared'));
  const holder = py(`
fd = os.open(P, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)
time.sleep(1.5)
os.close(fd)`, join(mnts[0]!, 'shared'));
  await new Promise((r) => setTimeout(r, 700));
  const tryLock = `
fd = os.open(P, os.O_RDWR)
try:
  fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  print(json.dumps(0))
except OSError as e:
  print(json.dumps(e.errno))
os.close(fd)`;
  t.equal(await py(tryLock, join(mnts[1]!, 'shared')), 11, 'EAGAIN while the other mount holds it');
  await holder;
  t.equal(await py(tryLock, join(mnts[1]!, 'shared')), 0, 'granted once the holder closed its file');
});

t.test('bursts of 40 concurrent slow requests are all answered, and thread state is reused', async (t) => {
  const ops = mem.ops();
  const fuse = mounts[0]!.fuse as unknown as { _threads: Set<Buffer> };
  await py(`for i in range(40): open(os.path.join(P, 'f%d' % i), 'w').close()`, mnts[0]!);
  // Every getattr of /fN waits 300 ms, so the 40 stats overlap and libfuse runs ~40 threads.
  const slow = mounts[0]!.fuse as unknown as { ops: typeof ops };
  const getattr = slow.ops.getattr!;
  slow.ops.getattr = (p, cb) => (p.startsWith('/f') ? setTimeout(() => getattr(p, cb), 300) : getattr(p, cb));
  const burst = `
def st(i): os.stat(os.path.join(P, 'f%d' % i))
ts = [threading.Thread(target=st, args=(i,)) for i in range(40)]
t0 = time.monotonic()
for x in ts: x.start()
for x in ts: x.join()
print(json.dumps(time.monotonic() - t0))`;
  const first = await py(burst, mnts[0]!);
  const afterFirst = fuse._threads.size;
  await new Promise((r) => setTimeout(r, 500)); // idle threads beyond 10 exit
  const second = await py(burst, mnts[0]!);
  slow.ops.getattr = getattr;
  t.ok(first < 3 && second < 3, `40 stats of 300 ms ran concurrently (${first.toFixed(2)} s, ${second.toFixed(2)} s)`);
  t.ok(afterFirst >= 20, `many native threads served the burst (${afterFirst})`);
  // Only ~10 idle threads survive the pause, so the second burst starts ~30 new ones; without reuse
  // each would add its own state (the original grew by that much per burst, forever).
  t.ok(fuse._threads.size < afterFirst + 15, `second burst reused thread state (${afterFirst} → ${fuse._threads.size})`);
});
