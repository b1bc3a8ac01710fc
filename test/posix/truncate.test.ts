// truncate(2): grow with zeros, shrink, sparse sizes past 4 GiB, times and errors (pjdfstest tests/truncate).
import t from 'tap';
import { chmodSync, chownSync, mkdirSync, writeFileSync, readFileSync, symlinkSync, lstatSync, truncateSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, UID_A, GID_A, UID_B, GID_B, NAME_TOO_LONG } from '../helpers/posix.js';
import { asUser, sys } from '../helpers/posix-sys.js';

const target = await posixTarget(t);
const GiB = 2 ** 30;

function readAt(p: string, offset: number, length: number): Buffer {
  const fd = openSync(p, 'r');
  try {
    const b = Buffer.alloc(length);
    const n = readSync(fd, b, 0, length, offset);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

t.test('grows a file with zeros', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'abc');
  truncateSync(f, 10000);
  t.equal(lstatSync(f).size, 10000);
  const data = readFileSync(f);
  t.equal(data.subarray(0, 3).toString(), 'abc');
  t.ok(data.subarray(3).every((b) => b === 0), 'zeros after the old end');
});

t.test('shrinks a file, and growing it again reads zeros, not the old bytes', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, Buffer.alloc(200000, 0x61));
  truncateSync(f, 5);
  t.equal(lstatSync(f).size, 5);
  t.equal(readFileSync(f, 'utf8'), 'aaaaa');
  truncateSync(f, 200000);
  const data = readFileSync(f);
  t.equal(data.length, 200000);
  t.ok(data.subarray(5).every((b) => b === 0), 'old bytes are gone');
  truncateSync(f, 0);
  t.equal(readFileSync(f).length, 0);
});

t.test('makes a sparse file past 4 GiB that reads zeros and keeps its tail', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'head');
  truncateSync(f, 5 * GiB + 123);
  t.equal(lstatSync(f).size, 5 * GiB + 123);
  t.ok(readAt(f, 4.5 * GiB, 4096).every((b) => b === 0), 'zeros in the hole');
  t.equal(readAt(f, 5 * GiB + 120, 100).length, 3, 'a read at the end is short');
  t.equal(readAt(f, 0, 4).toString(), 'head');
  truncateSync(f, 4 * GiB + 1);
  t.equal(lstatSync(f).size, 4 * GiB + 1, 'shrinks past 4 GiB');
});

t.test('updates mtime and ctime when the size changes', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'abc');
  const [grow, parent] = await timeChanges([f, d], () => truncateSync(f, 100));
  t.same(grow, { mtime: true, ctime: true }, 'grow');
  t.same(parent, { mtime: false, ctime: false }, 'parent untouched');
  const [shrink] = await timeChanges([f], () => truncateSync(f, 1));
  t.same(shrink, { mtime: true, ctime: true }, 'shrink');
});

t.test('follows a symlink', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'abcdef');
  symlinkSync('f', join(d, 'l'));
  truncateSync(join(d, 'l'), 2);
  t.equal(readFileSync(join(d, 'f'), 'utf8'), 'ab');
});

t.test('returns EISDIR for a directory and EINVAL for a negative length', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'abc');
  t.equal(await sys('truncate', d, 0), 'EISDIR');
  t.equal(await sys('truncate', join(d, 'f'), -1), 'EINVAL');
  t.equal(lstatSync(join(d, 'f')).size, 3);
});

t.test('returns EFBIG past the largest file size', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'abc');
  t.equal(await sys('truncate', join(d, 'f'), 2 ** 62), 'EFBIG');
  t.equal(lstatSync(join(d, 'f')).size, 3);
});

t.test('returns ENOENT, ENOTDIR and ENAMETOOLONG for bad names', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(errnoOf(() => truncateSync(join(d, 'missing'), 1)), 'ENOENT');
  t.equal(errnoOf(() => truncateSync(join(d, 'f', 'x'), 1)), 'ENOTDIR');
  t.equal(errnoOf(() => truncateSync(join(d, NAME_TOO_LONG), 1)), 'ENAMETOOLONG');
});

t.test('returns EACCES without write permission, even for the owner', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'abc');
  chownSync(f, UID_A, GID_A);
  chmodSync(f, 0o444);
  t.equal(await asUser(UID_A, GID_A, ['truncate', f, 0]), 'EACCES', 'owner, r--');
  t.equal(await asUser(UID_B, GID_B, ['truncate', f, 0]), 'EACCES', 'other');
  chmodSync(f, 0o646);
  t.equal(await asUser(UID_B, GID_B, ['truncate', f, 1]), 'OK', 'other with write permission');
  t.equal(lstatSync(f).size, 1);
  mkdirSync(join(d, 'closed'), 0o700);
  writeFileSync(join(d, 'closed', 'g'), 'x');
  chmodSync(join(d, 'closed', 'g'), 0o666);
  t.equal(await asUser(UID_A, GID_A, ['truncate', join(d, 'closed', 'g'), 0]), 'EACCES', 'no search permission');
});
