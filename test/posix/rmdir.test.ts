// rmdir(2): only empty directories, link counts, times, sticky directories (pjdfstest tests/rmdir).
import t from 'tap';
import { chmodSync, chownSync, mkdirSync, writeFileSync, symlinkSync, lstatSync, rmdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, nlinkOf, UID_A, GID_A, UID_B, GID_B, NAME_TOO_LONG } from '../helpers/posix.js';
import { asUser } from '../helpers/posix-sys.js';

const target = await posixTarget(t);

t.test('removes an empty directory and its link from the parent', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'a'));
  t.equal(nlinkOf(d), 3);
  rmdirSync(join(d, 'a'));
  t.equal(errnoOf(() => lstatSync(join(d, 'a'))), 'ENOENT');
  t.equal(nlinkOf(d), 2);
  t.same(readdirSync(d), []);
});

t.test('updates the mtime and ctime of the parent', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'a'));
  const [parent] = await timeChanges([d], () => rmdirSync(join(d, 'a')));
  t.same(parent, { mtime: true, ctime: true });
});

t.test('returns ENOTEMPTY when removing a non-empty directory', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'a', 'sub'), { recursive: true });
  mkdirSync(join(d, 'b'));
  writeFileSync(join(d, 'b', 'f'), 'x');
  mkdirSync(join(d, 'c'));
  symlinkSync('missing', join(d, 'c', 'dangling'));
  for (const n of ['a', 'b', 'c']) t.equal(errnoOf(() => rmdirSync(join(d, n))), 'ENOTEMPTY', n);
  t.equal(errnoOf(() => rmdirSync(join(d, 'a', 'sub', '..'))), 'ENOTEMPTY', 'path ending in ..');
  t.equal(nlinkOf(d), 5);
});

t.test('returns EINVAL for a path ending in .', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'a'));
  t.equal(errnoOf(() => rmdirSync(join(d, 'a') + '/.')), 'EINVAL');
  t.ok(lstatSync(join(d, 'a')).isDirectory());
});

t.test('returns ENOTDIR for a file or a symlink to a directory', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  mkdirSync(join(d, 'dir'));
  symlinkSync('dir', join(d, 'l'));
  t.equal(errnoOf(() => rmdirSync(join(d, 'f'))), 'ENOTDIR');
  t.equal(errnoOf(() => rmdirSync(join(d, 'l'))), 'ENOTDIR');
  t.equal(errnoOf(() => rmdirSync(join(d, 'f', 'x'))), 'ENOTDIR');
});

t.test('returns ENOENT and ENAMETOOLONG for bad names', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(errnoOf(() => rmdirSync(join(d, 'missing'))), 'ENOENT');
  t.equal(errnoOf(() => rmdirSync(join(d, 'missing', 'x'))), 'ENOENT');
  t.equal(errnoOf(() => rmdirSync(join(d, NAME_TOO_LONG))), 'ENAMETOOLONG');
});

t.test('returns EACCES when the parent is not writable', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'ro'), 0o755);
  mkdirSync(join(d, 'ro', 'a'));
  chownSync(join(d, 'ro', 'a'), UID_A, GID_A);
  t.equal(await asUser(UID_A, GID_A, ['rmdir', join(d, 'ro', 'a')]), 'EACCES', 'owning the directory is not enough');
  t.ok(lstatSync(join(d, 'ro', 'a')).isDirectory());
});

t.test('returns EPERM when a user who owns neither the directory nor its parent removes it from a sticky parent', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'sticky'));
  chmodSync(join(d, 'sticky'), 0o1777);
  mkdirSync(join(d, 'sticky', 'a'));
  chownSync(join(d, 'sticky', 'a'), UID_A, GID_A);
  t.equal(await asUser(UID_B, GID_B, ['rmdir', join(d, 'sticky', 'a')]), 'EPERM');
  t.equal(await asUser(UID_A, GID_A, ['rmdir', join(d, 'sticky', 'a')]), 'OK', 'the owner may');
});
