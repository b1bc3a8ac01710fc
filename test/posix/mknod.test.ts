// mknod(2): device nodes (root only), fifos and regular files; rdev kept exactly (pjdfstest tests/mknod).
import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync, lstatSync, constants } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, modeOf, UID_A, GID_A, NAME_TOO_LONG } from '../helpers/posix.js';
import { asUser, sys, type PyStat } from '../helpers/posix-sys.js';

const target = await posixTarget(t);
const { S_IFCHR, S_IFBLK, S_IFIFO, S_IFREG, S_IFDIR, S_IFMT } = constants;
// Linux dev_t: major in bits 8-19 and 32-63, minor in bits 0-7 and 20-31.
const makedev = (major: number, minor: number) => ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12);

t.test('lets root create a character device with its major and minor numbers', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(await sys('mknod', join(d, 'c'), S_IFCHR | 0o640, 1, 3), 'OK');
  const s = (await sys('lstat', join(d, 'c'))) as PyStat;
  t.equal(s.mode & S_IFMT, S_IFCHR, 'a character device');
  t.equal(s.mode & 0o7777, 0o640, 'mode');
  t.equal(s.rdev, makedev(1, 3), 'rdev');
});

t.test('lets root create a block device with large device numbers', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(await sys('mknod', join(d, 'b'), S_IFBLK | 0o600, 259, 70000), 'OK');
  const s = (await sys('lstat', join(d, 'b'))) as PyStat;
  t.equal(s.mode & S_IFMT, S_IFBLK, 'a block device');
  t.equal(s.rdev, makedev(259, 70000), 'rdev');
});

t.test('creates a fifo and a regular file', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(await sys('mknod', join(d, 'p'), S_IFIFO | 0o644), 'OK');
  t.equal(await sys('mknod', join(d, 'f'), S_IFREG | 0o644), 'OK');
  t.ok(lstatSync(join(d, 'p')).isFIFO());
  t.ok(lstatSync(join(d, 'f')).isFile());
  t.equal(lstatSync(join(d, 'f')).size, 0);
});

t.test('returns EPERM when a user who is not root creates a device', async (t) => {
  const d = freshDir(target, t.name);
  chmodSync(d, 0o777);
  t.equal(await asUser(UID_A, GID_A, ['mknod', join(d, 'c'), S_IFCHR | 0o644, 1, 3]), 'EPERM');
  t.equal(await asUser(UID_A, GID_A, ['mknod', join(d, 'b'), S_IFBLK | 0o644, 1, 3]), 'EPERM');
  t.equal(await asUser(UID_A, GID_A, ['mknod', join(d, 'p'), S_IFIFO | 0o644]), 'OK', 'a fifo is allowed');
  t.equal(lstatSync(join(d, 'p')).uid, UID_A);
});

t.test('returns EPERM for a directory type and EINVAL for an unknown type', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(await sys('mknod', join(d, 'x'), S_IFDIR | 0o755), 'EPERM');
  t.equal(await sys('mknod', join(d, 'y'), 0o170000 | 0o644), 'EINVAL');
});

t.test('updates the mtime and ctime of the parent', async (t) => {
  const d = freshDir(target, t.name);
  const [parent] = await timeChanges([d], () => sys('mknod', join(d, 'c'), S_IFCHR | 0o644, 1, 5));
  t.same(parent, { mtime: true, ctime: true });
});

t.test('returns EEXIST, ENOENT, ENOTDIR and ENAMETOOLONG', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  mkdirSync(join(d, 'dir'));
  t.equal(await sys('mknod', join(d, 'f'), S_IFCHR | 0o644, 1, 3), 'EEXIST');
  t.equal(await sys('mknod', join(d, 'dir'), S_IFIFO | 0o644), 'EEXIST');
  t.equal(await sys('mknod', join(d, 'missing', 'c'), S_IFCHR | 0o644, 1, 3), 'ENOENT');
  t.equal(await sys('mknod', join(d, 'f', 'c'), S_IFCHR | 0o644, 1, 3), 'ENOTDIR');
  t.equal(await sys('mknod', join(d, NAME_TOO_LONG), S_IFCHR | 0o644, 1, 3), 'ENAMETOOLONG');
});

t.test('returns EACCES when the parent is not writable', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'ro'), 0o755);
  t.equal(await asUser(UID_A, GID_A, ['mknod', join(d, 'ro', 'p'), S_IFIFO | 0o644]), 'EACCES');
  t.equal(errnoOf(() => lstatSync(join(d, 'ro', 'p'))), 'ENOENT');
  t.equal(modeOf(join(d, 'ro')), 0o755);
});
