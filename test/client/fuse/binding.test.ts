// Through a real mount: the patched fuse-native delivers big writes, exact nanosecond times, 64-bit
// fields, lock/flock with owners, and never times out a blocking lock. Runs as root (mounts FUSE).
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  F_GETLK, F_RDLCK, F_SETLK, F_SETLKW, F_UNLCK, F_WRLCK, Fuse, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN, UTIME_OMIT, fuseErrno,
} from '../../../client/fuse/binding.js';
import { mountMemFs } from './mem-fs.js';

const execFileP = promisify(execFile);
// attr/entry timeouts 0: every stat asks the file system, so the tests see what the handlers give.
const { mem, mount, mnt } = await mountMemFs(t, 'fuse', { attrTimeoutSec: 0, entryTimeoutSec: 0 });

/** Runs python3 with the file path as sys.argv[1] and returns its stdout parsed as JSON. */
async function py(code: string, file: string): Promise<any> {
  const { stdout } = await execFileP('python3', ['-c', `import os, sys, json, fcntl, struct, time, signal\nP = sys.argv[1]\n${code}`, join(mnt, file)]);
  return stdout.trim() ? JSON.parse(stdout) : undefined;
}
function reset(): void {
  for (const list of Object.values(mem.log)) list.length = 0;
  mem.onLock = (c) => c.cb(0);
  mem.onFlock = (c) => c.cb(0);
}
const EAGAIN = fuseErrno('EAGAIN');
const EINTR = fuseErrno('EINTR');

t.test('a 2 MiB write arrives as two 1 MiB requests (max_pages negotiated past libfuse 2.9\'s 128 KiB)', async (t) => {
  reset();
  await py(`
with open(P, 'wb', buffering=0) as f: f.write(b'x' * 2097152)
print(json.dumps(os.stat(P).st_size))`, 'big');
  t.same(mem.log.writes.map((w) => w.len), [1048576, 1048576]);
  t.same(mem.log.writes.map((w) => w.off), [0, 1048576]);
});

t.test('touch -d with nanoseconds gives exact atime and mtime, and stat shows them and the inode', async (t) => {
  reset();
  await py(`open(P, 'w').close()`, 'touched');
  await execFileP('touch', ['-d', '2001-02-03 04:05:06.123456789 UTC', join(mnt, 'touched')]);
  const st = await py(`s = os.stat(P)\nprint(json.dumps([str(s.st_atime_ns), str(s.st_mtime_ns), s.st_ino]))`, 'touched');
  t.same(st, ['981173106123456789', '981173106123456789', mem.files.get('/touched')!.ino]);
  t.ok(st[2] > 2 ** 32, 'inode number past 32 bits survives (use_ino)');
});

t.test('os.utime(ns=...) sets exact times, and UTIME_OMIT of one keeps the other', async (t) => {
  reset();
  await py(`open(P, 'w').close()\nos.utime(P, ns=(1000000000000000005, 2000000000000000007))`, 'ut');
  t.same(mem.log.utimens.at(-1), { atime: [1000000000, 5], mtime: [2000000000, 7] }, 'atime and mtime each in place');
  await execFileP('touch', ['-m', '-d', '@1234567890.25', join(mnt, 'ut')]);
  t.equal(mem.log.utimens.at(-1)!.atime[1], UTIME_OMIT, 'touch -m omits atime');
  await execFileP('touch', ['-a', '-d', '@1500000000.5', join(mnt, 'ut')]);
  t.equal(mem.log.utimens.at(-1)!.mtime[1], UTIME_OMIT, 'touch -a omits mtime');
  const st = await py(`s = os.stat(P)\nprint(json.dumps([str(s.st_atime_ns), str(s.st_mtime_ns)]))`, 'ut');
  t.same(st, ['1500000000500000000', '1234567890250000000']);
});

t.test('offsets and sizes past 4 GiB reach read, write, truncate and stat exactly (to 2^52)', async (t) => {
  reset();
  const out = await py(`
fd = os.open(P, os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b'abc', 2**33 + 5)
os.pwrite(fd, b'xyz', 2**52 + 3)
r = [os.pread(fd, 3, 2**33 + 5).decode(), os.pread(fd, 3, 2**52 + 3).decode()]
os.ftruncate(fd, 2**40 + 1)
os.close(fd)
print(json.dumps(r + [os.stat(P).st_size]))`, 'sparse');
  t.same(out, ['abc', 'xyz', 2 ** 40 + 1]);
  t.same(mem.log.writes.map((w) => w.off), [2 ** 33 + 5, 2 ** 52 + 3]);
  t.ok(mem.log.reads.some((r) => r.off <= 2 ** 52 + 3 && r.off + r.len > 2 ** 52 + 3), 'read at 2^52');
  t.same(mem.log.truncates, [2 ** 40 + 1]);
});

t.test('statfs reports block and file counts past 2^32', async (t) => {
  const out = await py(`s = os.statvfs(os.path.dirname(P))\nprint(json.dumps([s.f_blocks, s.f_bavail, s.f_files]))`, 'x');
  t.same(out, [2 ** 40, 2 ** 40 - 2, 2 ** 34]);
});

t.test('create passes the open flags', async (t) => {
  reset();
  await py(`os.close(os.open(P, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND, 0o600))\nprint(1)`, 'excl');
  const c = mem.log.creates[0]!;
  t.equal(c.mode & 0o777, 0o600);
  t.equal(c.flags & 0o3, 1, 'O_WRONLY');
  t.ok(c.flags & 0o200, 'O_EXCL');
  t.ok(c.flags & 0o2000, 'O_APPEND');
});

t.test('a create or mkdir that answers with the stat spares libfuse\'s lookup of the new name; without it, the lookup reaches JS', async (t) => {
  const dirGetattrs: number[] = [];
  for (const made of [true, false]) {
    reset();
    mem.madeStats = made;
    const name = made ? 'made' : 'plain';
    await py(`os.close(os.open(P, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))\nos.mkdir(P + '.d')\nprint(json.dumps(os.stat(P + '.d').st_ino))`, name);
    t.same(mem.log.fgetattrs, made ? [] : [`/${name}`], `${name}: fgetattr after the create`);
    dirGetattrs.push(mem.log.getattrs.filter((p) => p === `/${name}.d`).length);
  }
  t.equal(dirGetattrs[1]! - dirGetattrs[0]!, 1, `getattrs of the new directory with and without the stat: ${dirGetattrs.join(' vs ')}`);
  mem.madeStats = false;
});

t.test('lockf reaches lock with cmd, type, range and owner; the handler\'s EAGAIN reaches the caller', async (t) => {
  reset();
  mem.onLock = (c) => c.cb(c.cmd === F_SETLK && c.lock.type === F_WRLCK ? EAGAIN : 0);
  const out = await py(`
fd = os.open(P, os.O_CREAT | os.O_RDWR, 0o644)
try:
  fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 100, 10)
  e = 0
except OSError as x:
  e = x.errno
fcntl.lockf(fd, fcntl.LOCK_SH, 5, 0)
os.close(fd)
print(json.dumps([e, os.getpid()]))`, 'locked');
  t.same(out, [11, out[1]], 'EAGAIN (11) reached fcntl');
  const [wr, rd, unlockOnClose] = mem.log.locks;
  t.match(wr, { cmd: F_SETLK, lock: { type: F_WRLCK, whence: 0, start: 10, len: 100, pid: out[1] } });
  t.match(rd, { cmd: F_SETLKW, lock: { type: F_RDLCK, start: 0, len: 5 } });
  t.equal(typeof wr!.owner, 'bigint');
  t.not(wr!.owner, 0n);
  t.equal(rd!.owner, wr!.owner, 'one process, one owner');
  t.equal(mem.log.flushes.at(-1)!.owner, wr!.owner, 'close: flush carries the owner');
  t.match(unlockOnClose, { cmd: F_SETLK, lock: { type: F_UNLCK, start: 0, len: 0 }, owner: wr!.owner }, 'libfuse unlocks the owner on flush');
});

t.test('with unlock-fast on, the F_UNLCK of a flush and of an unlock is answered natively; locks and off still reach lock', async (t) => {
  reset();
  const script = `
fd = os.open(P, os.O_CREAT | os.O_RDWR, 0o644)
fcntl.lockf(fd, fcntl.LOCK_UN, 0, 0)
os.close(fd)
fd = os.open(P, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
os.close(fd)`;
  try {
    mount.setUnlockFast(true);
    await py(script, 'fast');
    t.same(mem.log.locks.map((l) => [l.cmd, l.lock.type]), [[F_SETLK, F_WRLCK]], 'only the lock arrived: no unlock, no flush unlock');
    t.equal(mem.log.flushes.length, 2, 'both closes still flushed');
    reset();
    mount.setUnlockFast(false);
    await py(script, 'fast');
    t.same(mem.log.locks.map((l) => [l.cmd, l.lock.type]), [[F_SETLKW, F_UNLCK], [F_SETLK, F_UNLCK], [F_SETLK, F_WRLCK], [F_SETLK, F_UNLCK]], 'off: every unlock arrives');
  } finally {
    mount.setUnlockFast(false);
  }
});

t.test('F_GETLK answers with the conflicting lock the handler gives', async (t) => {
  reset();
  mem.onLock = (c) => (c.cmd === F_GETLK ? c.cb(0, { type: F_WRLCK, whence: 0, start: 50, len: 10, pid: process.pid }) : c.cb(0));
  const out = await py(`
fd = os.open(P, os.O_CREAT | os.O_RDWR, 0o644)
r = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack('hhxxxxqqixxxx', fcntl.F_RDLCK, 0, 0, 0, 0))
os.close(fd)
print(json.dumps(list(struct.unpack('hhxxxxqqixxxx', r))))`, 'getlk');
  t.match(mem.log.locks[0], { cmd: F_GETLK, lock: { type: F_RDLCK } });
  t.same(out, [F_WRLCK, 0, 50, 10, process.pid], "a live pid: the kernel maps it into the caller's pid namespace");
});

t.test('flock reaches flock with op and owner, EAGAIN reaches the caller, release reports flock_release', async (t) => {
  reset();
  let held = false;
  mem.onFlock = (c) => {
    const op = c.op & ~LOCK_NB;
    if (op === LOCK_EX && held) return c.cb(EAGAIN);
    held = op === LOCK_EX || held;
    c.cb(0);
  };
  const out = await py(`
fd = os.open(P, os.O_CREAT | os.O_RDWR, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
fd2 = os.open(P, os.O_RDWR)
try:
  fcntl.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB)
  e = 0
except OSError as x:
  e = x.errno
fcntl.flock(fd, fcntl.LOCK_UN)
fcntl.flock(fd, fcntl.LOCK_SH)
os.close(fd2)
os.close(fd)
print(json.dumps(e))`, 'flocked');
  t.equal(out, 11, 'EWOULDBLOCK from the handler');
  const ops = mem.log.flocks.map((f) => f.op & ~LOCK_NB);
  t.same(ops, [LOCK_EX, LOCK_EX, LOCK_UN, LOCK_SH]);
  t.ok(mem.log.flocks[0]!.op & LOCK_NB, 'LOCK_NB passed');
  const [a, b] = mem.log.flocks;
  t.not(a!.owner, b!.owner, 'flock owners are per open file');
  for (let i = 0; i < 50 && mem.log.releases.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  // Both open files tried flock, so each release asks to drop that file's flocks, by its owner.
  const released = mem.log.releases.filter((r) => r.flockRelease).map((r) => r.owner);
  t.same(new Set(released), new Set([a!.owner, b!.owner]), 'release names the owners that took the flocks');
});

t.test('a blocking F_SETLKW held 20 s in JS is granted, not cut short by the 15 s op timeout', async (t) => {
  reset();
  mem.onLock = (c) => (c.cmd === F_SETLKW ? setTimeout(() => c.cb(0), 20_000) : c.cb(0));
  const out = await py(`
fd = os.open(P, os.O_CREAT | os.O_RDWR, 0o644)
t0 = time.monotonic()
fcntl.lockf(fd, fcntl.LOCK_EX)
d = time.monotonic() - t0
os.close(fd)
print(json.dumps(d))`, 'slow');
  t.ok(out >= 19.5, `waited ${out} s and got the lock`);
});

t.test('an interrupted F_SETLKW aborts the handler\'s signal and the caller gets EINTR', async (t) => {
  reset();
  let aborted = false;
  mem.onLock = (c) => {
    if (c.cmd !== F_SETLKW) return c.cb(0);
    c.signal.addEventListener('abort', () => { aborted = true; c.cb(EINTR); });
  };
  const out = await py(`
class Alarm(Exception): pass
def on_alarm(s, f): raise Alarm()
signal.signal(signal.SIGALRM, on_alarm)
fd = os.open(P, os.O_CREAT | os.O_RDWR, 0o644)
t0 = time.monotonic()
signal.setitimer(signal.ITIMER_REAL, 0.5)
try:
  fcntl.lockf(fd, fcntl.LOCK_EX)
  r = 'granted'
except Alarm:
  r = 'interrupted'
d = time.monotonic() - t0
os.close(fd)
print(json.dumps([r, d]))`, 'intr');
  t.equal(out[0], 'interrupted');
  t.ok(out[1] < 3, `interrupted after ${out[1]} s`);
  t.ok(aborted, 'the AbortSignal fired');
});

t.test('getxattr and listxattr answer size probes and ERANGE for short buffers', async (t) => {
  const out = await py(`
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
open(P, 'w').close()
os.setxattr(P, 'user.k', b'0123456789')
p = P.encode()
probe = libc.getxattr(p, b'user.k', None, 0)
buf = ctypes.create_string_buffer(4)
short = libc.getxattr(p, b'user.k', buf, 4)
e1 = ctypes.get_errno()
lprobe = libc.listxattr(p, None, 0)
lshort = libc.listxattr(p, buf, 4)
e2 = ctypes.get_errno()
print(json.dumps([probe, short, e1, os.getxattr(P, 'user.k').decode(), lprobe, lshort, e2, os.listxattr(P)]))`, 'xa');
  t.same(out, [10, -1, 34, '0123456789', 7, -1, 34, ['user.k']]);
});

t.test('a handler answering an Error or a positive number gives the caller EIO, and the mount keeps working', async (t) => {
  const ops = (mount.fuse as unknown as { ops: { getattr: (p: string, cb: (r: number, s?: unknown) => void) => void } }).ops;
  const getattr = ops.getattr;
  ops.getattr = (p, cb) => {
    if (p === '/bad-error') return cb(new Error('bug') as unknown as number);
    if (p === '/bad-positive') return cb(2);
    return getattr(p, cb);
  };
  t.teardown(() => { ops.getattr = getattr; });
  const out = await py(`
r = []
for n in ('bad-error', 'bad-positive'):
  try:
    os.stat(os.path.join(os.path.dirname(P), n))
    r.append(0)
  except OSError as e:
    r.append(e.errno)
print(json.dumps(r + [os.stat(os.path.dirname(P)).st_ino]))`, 'x');
  t.same(out, [5, 5, 1]);
});

t.test('Fuse.context() names the calling process during a handler, and is null outside one', async (t) => {
  const ops = (mount.fuse as unknown as { ops: { getattr: (p: string, cb: (r: number, s?: unknown) => void) => void } }).ops;
  const getattr = ops.getattr;
  const seen: (ReturnType<typeof Fuse.context>)[] = [];
  ops.getattr = (p, cb) => {
    if (p === '/who') seen.push(Fuse.context());
    return getattr(p, cb);
  };
  t.teardown(() => { ops.getattr = getattr; });
  const pid = await py(`
try: os.stat(P)
except OSError: pass
print(json.dumps(os.getpid()))`, 'who');
  t.match(seen[0], { uid: 0, gid: 0, pid });
  t.equal(Fuse.context(), null);
});

t.test('with the readahead set to 1 MiB, a sequential read arrives in 1 MiB requests (128 KiB before)', async (t) => {
  const path = await mount.setReadahead(128);
  t.match(path, /^\/sys\/class\/bdi\/0:\d+\/read_ahead_kb$/);
  const readSizes = async () => {
    reset();
    // Each open drops the page cache here (no auto_cache), so every read reaches the file system.
    await py(`
with open(P, 'rb', buffering=0) as f:
  while f.read(1048576): pass`, 'big');
    return mem.log.reads.map((r) => r.len);
  };
  await py(`
with open(P, 'wb', buffering=0) as f: f.write(b'y' * 4194304)`, 'big');
  t.equal(Math.max(...await readSizes()), 131072, 'the kernel default: 128 KiB requests');
  await mount.setReadahead(1024);
  const big = await readSizes();
  t.equal(Math.max(...big), 1048576, 'one request per MiB');
  t.equal(big.reduce((a, b) => a + b, 0), 4194304, 'the whole file, once');
});
