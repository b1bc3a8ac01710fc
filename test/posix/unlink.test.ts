// unlink(2): names go, inodes stay while linked or open; sticky directories (pjdfstest tests/unlink).
import t from 'tap';
import { chmodSync, chownSync, mkdirSync, writeFileSync, readFileSync, symlinkSync, lstatSync, fstatSync, linkSync, unlinkSync, openSync, closeSync, readSync, writeSync, readdirSync, constants } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, nlinkOf, UID_A, GID_A, UID_B, GID_B, NAME_TOO_LONG } from '../helpers/posix.js';
import { asUser, sys } from '../helpers/posix-sys.js';

const target = await posixTarget(t);

t.test('removes the name, and the other links see one link fewer and a new ctime', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'a'), 'x');
  linkSync(join(d, 'a'), join(d, 'b'));
  const [b, parent] = await timeChanges([join(d, 'b'), d], () => unlinkSync(join(d, 'a')));
  t.same(readdirSync(d), ['b']);
  t.equal(nlinkOf(join(d, 'b')), 1);
  t.same(b, { mtime: false, ctime: true }, 'remaining link');
  t.same(parent, { mtime: true, ctime: true }, 'parent');
});

t.test('keeps an unlinked file readable and writable until it is closed', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'before');
  const fd = openSync(f, 'r+');
  unlinkSync(f);
  t.equal(errnoOf(() => lstatSync(f)), 'ENOENT', 'the name is gone');
  t.same(readdirSync(d), [], 'no name left while it is open (no .fuse_hidden file)');
  t.equal(fstatSync(fd).nlink, 0, 'no links');
  writeSync(fd, ' and after', 6);
  const big = Buffer.alloc(3 * 1024 * 1024, 7);
  writeSync(fd, big, 0, big.length, 1024 * 1024);
  const b = Buffer.alloc(16);
  t.equal(readSync(fd, b, 0, 16, 0), 16);
  t.equal(b.toString(), 'before and after');
  const back = Buffer.alloc(big.length);
  t.equal(readSync(fd, back, 0, back.length, 1024 * 1024), big.length);
  t.ok(back.equals(big), 'large write after unlink reads back');
  closeSync(fd);
  t.same(readdirSync(d), [], 'no name left after close');
});

t.test('removes a symlink, not its target', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  symlinkSync('f', join(d, 'l'));
  unlinkSync(join(d, 'l'));
  t.equal(readFileSync(join(d, 'f'), 'utf8'), 'x');
  t.same(readdirSync(d), ['f']);
});

t.test('removes fifos and device nodes', async (t) => {
  const d = freshDir(target, t.name);
  await sys('mkfifo', join(d, 'p'), 0o644);
  await sys('mknod', join(d, 'c'), constants.S_IFCHR | 0o644, 1, 3);
  unlinkSync(join(d, 'p'));
  unlinkSync(join(d, 'c'));
  t.same(readdirSync(d), []);
});

t.test('returns EISDIR for a directory', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'dir'));
  t.equal(errnoOf(() => unlinkSync(join(d, 'dir'))), 'EISDIR');
  t.ok(lstatSync(join(d, 'dir')).isDirectory());
});

t.test('returns ENOENT, ENOTDIR and ENAMETOOLONG for bad names', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(errnoOf(() => unlinkSync(join(d, 'missing'))), 'ENOENT');
  t.equal(errnoOf(() => unlinkSync(join(d, 'missing', 'x'))), 'ENOENT');
  t.equal(errnoOf(() => unlinkSync(join(d, 'f', 'x'))), 'ENOTDIR');
  t.equal(errnoOf(() => unlinkSync(join(d, NAME_TOO_LONG))), 'ENAMETOOLONG');
});

t.test('returns EACCES when the parent is not writable, whoever owns the file', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'ro'), 0o755);
  writeFileSync(join(d, 'ro', 'f'), 'x');
  chownSync(join(d, 'ro', 'f'), UID_A, GID_A);
  t.equal(await asUser(UID_A, GID_A, ['unlink', join(d, 'ro', 'f')]), 'EACCES');
  t.ok(lstatSync(join(d, 'ro', 'f')).isFile());
});

t.test('returns EPERM when a non-owner unlinks in a sticky directory', async (t) => {
  const d = freshDir(target, t.name);
  const s = join(d, 'sticky');
  mkdirSync(s);
  chownSync(s, UID_B, GID_B);
  chmodSync(s, 0o1777);
  for (const n of ['a', 'b', 'c']) {
    writeFileSync(join(s, n), 'x');
    chownSync(join(s, n), UID_A, GID_A);
    chmodSync(join(s, n), 0o666);
  }
  t.equal(await asUser(65532, 65532, ['unlink', join(s, 'a')]), 'EPERM', 'neither file owner nor directory owner');
  t.equal(await asUser(UID_A, GID_A, ['unlink', join(s, 'a')]), 'OK', 'the file owner may');
  t.equal(await asUser(UID_B, GID_B, ['unlink', join(s, 'b')]), 'OK', 'the directory owner may');
  t.equal(errnoOf(() => unlinkSync(join(s, 'c'))), 'OK', 'root may');
  chmodSync(s, 0o777);
  writeFileSync(join(s, 'd'), 'x');
  t.equal(await asUser(65532, 65532, ['unlink', join(s, 'd')]), 'OK', 'without the sticky bit anyone with write permission may');
});
