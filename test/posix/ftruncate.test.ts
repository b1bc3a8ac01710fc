// ftruncate(2): sizes through an open descriptor, including unlinked files and offsets past 4 GiB
// (pjdfstest tests/ftruncate).
import t from 'tap';
import { chownSync, writeFileSync, readFileSync, lstatSync, fstatSync, ftruncateSync, openSync, closeSync, readSync, writeSync, unlinkSync, constants } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, UID_A, GID_A } from '../helpers/posix.js';
import { asUser, sys } from '../helpers/posix-sys.js';

const target = await posixTarget(t);
const GiB = 2 ** 30;

t.test('grows with zeros and shrinks through a descriptor', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  const fd = openSync(f, 'w+');
  writeSync(fd, 'hello world');
  ftruncateSync(fd, 5);
  t.equal(fstatSync(fd).size, 5);
  ftruncateSync(fd, 64 * 1024 + 3);
  t.equal(fstatSync(fd).size, 64 * 1024 + 3);
  closeSync(fd);
  const data = readFileSync(f);
  t.equal(data.subarray(0, 5).toString(), 'hello');
  t.ok(data.subarray(5).every((b) => b === 0), 'zeros after the shrink point');
});

t.test('extends past 4 GiB and writes there after the hole', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  const fd = openSync(f, 'w+');
  ftruncateSync(fd, 6 * GiB);
  writeSync(fd, 'far', 0, 'utf8');
  writeSync(fd, Buffer.from('tail'), 0, 4, 6 * GiB - 4);
  const b = Buffer.alloc(8);
  t.equal(readSync(fd, b, 0, 8, 6 * GiB - 8), 8);
  t.equal(b.toString('latin1'), '\0\0\0\0tail');
  t.equal(readSync(fd, b, 0, 8, 5 * GiB), 8);
  t.ok(b.every((x) => x === 0), 'zeros in the hole');
  closeSync(fd);
  t.equal(lstatSync(f).size, 6 * GiB);
});

t.test('updates mtime and ctime when the size changes', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'abc');
  const fd = openSync(f, 'r+');
  const [c] = await timeChanges([f], () => ftruncateSync(fd, 1000));
  closeSync(fd);
  t.same(c, { mtime: true, ctime: true });
});

t.test('returns EINVAL for a descriptor opened read-only and for a negative length', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'abc');
  const fd = openSync(f, constants.O_RDONLY);
  t.equal(errnoOf(() => ftruncateSync(fd, 0)), 'EINVAL', 'read-only descriptor');
  closeSync(fd);
  t.equal(await asUser(0, 0, ['open', f, ['O_RDWR']], ['ftruncate', { $: 0 }, -1]), 'EINVAL', 'negative length');
  t.equal(lstatSync(f).size, 3);
});

t.test('works on a descriptor whose file was made unwritable after open', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'abcdef');
  chownSync(f, UID_A, GID_A);
  t.equal(await asUser(UID_A, GID_A, ['open', f, ['O_RDWR']], ['fchmod', { $: 0 }, 0o400], ['ftruncate', { $: 0 }, 2], ['close', { $: 0 }]), 'OK');
  t.equal(readFileSync(f, 'utf8'), 'ab');
});

t.test('resizes a file that was unlinked while open', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  const fd = openSync(f, 'w+');
  writeSync(fd, 'some data');
  unlinkSync(f);
  ftruncateSync(fd, 4);
  t.equal(fstatSync(fd).size, 4);
  const b = Buffer.alloc(16);
  t.equal(readSync(fd, b, 0, 16, 0), 4);
  t.equal(b.subarray(0, 4).toString(), 'some');
  closeSync(fd);
});

t.test('returns EFBIG past the largest file size', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'abc');
  t.equal(await asUser(0, 0, ['open', f, ['O_RDWR']], ['ftruncate', { $: 0 }, 2 ** 62]), 'EFBIG');
  t.equal((await sys('stat', f) as { size: number }).size, 3);
});
