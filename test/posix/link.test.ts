// link(2): hard links share an inode and its data; link counts, times and errors (pjdfstest tests/link).
import t from 'tap';
import { chmodSync, chownSync, linkSync, unlinkSync, writeFileSync, readFileSync, mkdirSync, symlinkSync, lstatSync, appendFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, nlinkOf, UID_A, GID_A, NAME_TOO_LONG } from '../helpers/posix.js';
import { asUser } from '../helpers/posix-sys.js';

const target = await posixTarget(t);

t.test('makes a second name for the same inode, and counts links', async (t) => {
  const d = freshDir(target, t.name);
  const a = join(d, 'a'), b = join(d, 'b'), c = join(d, 'c');
  writeFileSync(a, 'hello');
  t.equal(nlinkOf(a), 1);
  linkSync(a, b);
  t.equal(lstatSync(b).ino, lstatSync(a).ino, 'same inode');
  t.equal(nlinkOf(a), 2);
  linkSync(b, c);
  t.same([nlinkOf(a), nlinkOf(b), nlinkOf(c)], [3, 3, 3]);
  unlinkSync(a);
  t.same([nlinkOf(b), nlinkOf(c)], [2, 2], 'after unlink');
  unlinkSync(b);
  t.equal(nlinkOf(c), 1);
  t.equal(readFileSync(c, 'utf8'), 'hello', 'data survives the first names');
});

t.test('shares data: a write through one name is read through the other', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'a'), 'one');
  linkSync(join(d, 'a'), join(d, 'b'));
  appendFileSync(join(d, 'b'), '-two');
  t.equal(readFileSync(join(d, 'a'), 'utf8'), 'one-two');
  chmodSync(join(d, 'a'), 0o600);
  t.equal(lstatSync(join(d, 'b')).mode & 0o777, 0o600, 'and attributes');
});

t.test('updates the ctime of the file and the mtime and ctime of the new parent', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'other'));
  writeFileSync(join(d, 'a'), 'x');
  const [f, from, to] = await timeChanges([join(d, 'a'), d, join(d, 'other')], () => linkSync(join(d, 'a'), join(d, 'other', 'b')));
  t.same(f, { mtime: false, ctime: true }, 'file');
  t.same(to, { mtime: true, ctime: true }, 'new parent');
  t.same(from, { mtime: false, ctime: false }, 'old parent unchanged');
});

t.test('returns EEXIST when the new name exists', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'a'), 'x');
  writeFileSync(join(d, 'f'), 'y');
  mkdirSync(join(d, 'dir'));
  symlinkSync('missing', join(d, 'dangling'));
  for (const n of ['f', 'dir', 'dangling']) t.equal(errnoOf(() => linkSync(join(d, 'a'), join(d, n))), 'EEXIST', n);
  t.equal(nlinkOf(join(d, 'a')), 1);
});

t.test('returns EPERM when the source is a directory', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'dir'));
  t.equal(errnoOf(() => linkSync(join(d, 'dir'), join(d, 'dir2'))), 'EPERM');
});

t.test('links a symlink itself, not its target', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  symlinkSync('f', join(d, 'l'));
  linkSync(join(d, 'l'), join(d, 'l2'));
  t.ok(lstatSync(join(d, 'l2')).isSymbolicLink());
  t.equal(lstatSync(join(d, 'l2')).ino, lstatSync(join(d, 'l')).ino);
  t.equal(nlinkOf(join(d, 'f')), 1, 'target has one link');
});

t.test('returns ENOENT, ENOTDIR and ENAMETOOLONG for bad paths', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(errnoOf(() => linkSync(join(d, 'missing'), join(d, 'b'))), 'ENOENT', 'missing source');
  t.equal(errnoOf(() => linkSync(join(d, 'f'), join(d, 'nodir', 'b'))), 'ENOENT', 'missing target dir');
  t.equal(errnoOf(() => linkSync(join(d, 'f', 'x'), join(d, 'b'))), 'ENOTDIR');
  t.equal(errnoOf(() => linkSync(join(d, 'f'), join(d, 'f', 'b'))), 'ENOTDIR');
  t.equal(errnoOf(() => linkSync(join(d, 'f'), join(d, NAME_TOO_LONG))), 'ENAMETOOLONG');
  t.equal(nlinkOf(join(d, 'f')), 1);
});

t.test('returns EACCES when the target directory is not writable', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  chownSync(join(d, 'f'), UID_A, GID_A);
  mkdirSync(join(d, 'ro'), 0o755);
  t.equal(await asUser(UID_A, GID_A, ['link', join(d, 'f'), join(d, 'ro', 'b')]), 'EACCES');
  chmodSync(join(d, 'ro'), 0o777);
  t.equal(await asUser(UID_A, GID_A, ['link', join(d, 'f'), join(d, 'ro', 'b')]), 'OK');
  t.equal(nlinkOf(join(d, 'f')), 2);
});

t.test('keeps the link count across a rename', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'a'), 'x');
  linkSync(join(d, 'a'), join(d, 'b'));
  mkdirSync(join(d, 'sub'));
  renameSync(join(d, 'b'), join(d, 'sub', 'c'));
  t.equal(nlinkOf(join(d, 'a')), 2);
  t.equal(nlinkOf(join(d, 'sub', 'c')), 2);
});

t.test('returns EMLINK past the link count limit', { skip: process.env.TIDEFS_POSIX_SLOW === '1' ? false : 'slow: set TIDEFS_POSIX_SLOW=1' }, async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  let n = 1, e = 'OK';
  for (; n <= 70000 && e === 'OK'; n++) e = errnoOf(() => linkSync(join(d, 'f'), join(d, `l${n}`)));
  t.equal(e, 'EMLINK', `after ${n - 1} links`);
  t.ok(n - 1 >= 1000, 'at least 1000 links are allowed');
});
