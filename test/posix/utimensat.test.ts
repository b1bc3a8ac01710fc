// utimensat(2): nanosecond times, UTIME_NOW, UTIME_OMIT, who may set them (pjdfstest tests/utimensat).
import t from 'tap';
import { chmodSync, writeFileSync, symlinkSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, timesOf, sleep, TICK_MS, UID_A, GID_A, UID_B, GID_B, ownedFile } from '../helpers/posix.js';
import { asUser, sys } from '../helpers/posix-sys.js';

const target = await posixTarget(t);
const ns = (sec: number, nsec: number) => BigInt(sec) * 1_000_000_000n + BigInt(nsec);
const nowNs = () => BigInt(Date.now()) * 1_000_000n;

t.test('sets atime and mtime to the nanosecond, and ctime to now', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  const before = timesOf(f);
  await sleep(TICK_MS);
  t.equal(await sys('utimensat', f, [1234567890, 123456789], [1500000000, 987654321]), 'OK');
  const after = timesOf(f);
  t.equal(after.atimeNs, ns(1234567890, 123456789), 'atime');
  t.equal(after.mtimeNs, ns(1500000000, 987654321), 'mtime');
  t.ok(after.ctimeNs > before.ctimeNs, 'ctime moved forward');
});

t.test('keeps times before 1970 and after 2038', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  t.equal(await sys('utimensat', f, [-100, 5], [2 ** 32 + 5, 999999999]), 'OK');
  const s = timesOf(f);
  t.equal(s.atimeNs, ns(-100, 5), 'before the epoch');
  t.equal(s.mtimeNs, ns(2 ** 32 + 5, 999999999), 'after 2106');
});

t.test('sets UTIME_NOW to the current time', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  await sys('utimensat', f, [1000, 0], [1000, 0]);
  const lo = nowNs() - 1_000_000_000n;
  t.equal(await sys('utimensat', f, 'NOW', 'NOW'), 'OK');
  const hi = nowNs() + 1_000_000_000n;
  const s = timesOf(f);
  t.ok(s.atimeNs > lo && s.atimeNs < hi, 'atime is now');
  t.ok(s.mtimeNs > lo && s.mtimeNs < hi, 'mtime is now');
});

t.test('leaves a time given as UTIME_OMIT unchanged', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  await sys('utimensat', f, [1000, 1], [2000, 2]);
  t.equal(await sys('utimensat', f, 'OMIT', [3000, 3]), 'OK');
  t.same([timesOf(f).atimeNs, timesOf(f).mtimeNs], [ns(1000, 1), ns(3000, 3)], 'atime omitted');
  t.equal(await sys('utimensat', f, [4000, 4], 'OMIT'), 'OK');
  t.same([timesOf(f).atimeNs, timesOf(f).mtimeNs], [ns(4000, 4), ns(3000, 3)], 'mtime omitted');
  t.equal(await sys('utimensat', f, 'OMIT', 'NOW'), 'OK');
  t.equal(timesOf(f).atimeNs, ns(4000, 4), 'atime omitted with mtime now');
  t.ok(timesOf(f).mtimeNs > ns(3000, 3), 'mtime now');
  const before = timesOf(f);
  await sleep(TICK_MS);
  t.equal(await sys('utimensat', f, 'OMIT', 'OMIT'), 'OK');
  t.same(timesOf(f), before, 'both omitted changes nothing, not even ctime');
});

t.test('sets the times of a symlink itself with AT_SYMLINK_NOFOLLOW', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  symlinkSync('f', join(d, 'l'));
  await sys('utimensat', join(d, 'f'), [100, 0], [100, 0]);
  t.equal(await sys('utimensat', join(d, 'l'), [200, 7], [300, 8], true), 'OK');
  t.equal(timesOf(join(d, 'l')).mtimeNs, ns(300, 8), 'link');
  t.equal(timesOf(join(d, 'f')).mtimeNs, ns(100, 0), 'target unchanged');
  t.equal(await sys('utimensat', join(d, 'l'), [400, 0], [500, 0]), 'OK');
  t.equal(timesOf(join(d, 'f')).mtimeNs, ns(500, 0), 'followed without the flag');
});

t.test('lets the owner set any times and returns EPERM for a non-owner', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A, 0o666);
  t.equal(await asUser(UID_A, GID_A, ['utimensat', f, [10, 1], [20, 2]]), 'OK', 'owner');
  t.equal(await asUser(UID_B, GID_B, ['utimensat', f, [30, 3], [40, 4]]), 'EPERM', 'non-owner with write permission');
  t.equal(await asUser(UID_B, GID_B, ['utimensat', f, 'OMIT', [40, 4]]), 'EPERM', 'non-owner, one time');
  t.equal(timesOf(f).mtimeNs, ns(20, 2));
});

t.test('lets a non-owner with write permission set UTIME_NOW, and returns EACCES without it', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A);
  await sys('utimensat', f, [10, 0], [10, 0]);
  chmodSync(f, 0o666);
  t.equal(await asUser(UID_B, GID_B, ['utimensat', f, 'NOW', 'NOW']), 'OK');
  t.ok(timesOf(f).mtimeNs > ns(10, 0));
  chmodSync(f, 0o644);
  t.equal(await asUser(UID_B, GID_B, ['utimensat', f, 'NOW', 'NOW']), 'EACCES');
});

t.test('returns EINVAL for nanoseconds out of range and ENOENT for a missing file', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  t.equal(await sys('utimensat', f, [10, 1_000_000_000], [10, 0]), 'EINVAL');
  t.equal(await sys('utimensat', f, [10, 0], [10, -1]), 'EINVAL');
  t.equal(await sys('utimensat', join(d, 'missing'), 'NOW', 'NOW'), 'ENOENT');
  t.ok(lstatSync(f).mtimeMs > 10_000, 'unchanged');
});
