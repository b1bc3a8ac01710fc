// mkdir(2): modes, owners, setgid inheritance, link counts, times and errors (pjdfstest tests/mkdir).
import t from 'tap';
import { chmodSync, chownSync, mkdirSync, writeFileSync, symlinkSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, modeOf, nlinkOf, UID_A, GID_A, GID_B, NAME_TOO_LONG, NAME_LONGEST } from '../helpers/posix.js';
import { asUser, asUserGroups } from '../helpers/posix-sys.js';

const target = await posixTarget(t);

t.test('creates a directory with the requested mode less the umask', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(await asUser(0, 0, ['umask', 0o022], ['mkdir', join(d, 'a'), 0o777]), 'OK');
  t.equal(modeOf(join(d, 'a')), 0o755);
  t.equal(await asUser(0, 0, ['umask', 0o077], ['mkdir', join(d, 'b'), 0o751]), 'OK');
  t.equal(modeOf(join(d, 'b')), 0o700);
  t.equal(await asUser(0, 0, ['umask', 0], ['mkdir', join(d, 'c'), 0o1777]), 'OK');
  t.equal(modeOf(join(d, 'c')), 0o1777, 'sticky bit kept');
  t.ok(lstatSync(join(d, 'c')).isDirectory());
});

t.test('gives a new directory two links and its parent one more', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(nlinkOf(d), 2);
  mkdirSync(join(d, 'a'));
  t.equal(nlinkOf(join(d, 'a')), 2, 'new directory');
  t.equal(nlinkOf(d), 3, 'parent');
  mkdirSync(join(d, 'b'));
  writeFileSync(join(d, 'f'), 'x');
  t.equal(nlinkOf(d), 4, 'a file adds no link to its parent');
  t.equal(lstatSync(join(d, 'a', '..')).ino, lstatSync(d).ino, '.. is the parent');
});

t.test('sets the owner to the caller and the group to its gid', async (t) => {
  const d = freshDir(target, t.name);
  chmodSync(d, 0o777);
  t.equal(await asUser(UID_A, GID_A, ['mkdir', join(d, 'a'), 0o755]), 'OK');
  const s = lstatSync(join(d, 'a'));
  t.same([s.uid, s.gid], [UID_A, GID_A]);
});

t.test('inherits the group and the setgid bit from a setgid parent', async (t) => {
  const d = freshDir(target, t.name);
  const p = join(d, 'sg');
  mkdirSync(p);
  chownSync(p, 0, GID_B);
  chmodSync(p, 0o2777);
  t.equal(await asUser(UID_A, GID_A, ['mkdir', join(p, 'a'), 0o755]), 'OK');
  const s = lstatSync(join(p, 'a'));
  t.equal(s.gid, GID_B, 'group from the parent');
  t.equal(s.mode & 0o7777, 0o2755, 'setgid inherited');
  t.equal(await asUser(UID_A, GID_A, ['open', join(p, 'f'), ['O_CREAT', 'O_WRONLY'], 0o644], ['close', { $: 0 }]), 'OK');
  const f = lstatSync(join(p, 'f'));
  t.equal(f.gid, GID_B, 'a file gets the group too');
  t.equal(f.mode & 0o7777, 0o644, 'but no setgid bit');
});

t.test('updates the mtime and ctime of the parent', async (t) => {
  const d = freshDir(target, t.name);
  const [parent] = await timeChanges([d], () => mkdirSync(join(d, 'a')));
  t.same(parent, { mtime: true, ctime: true });
  const s = lstatSync(join(d, 'a'), { bigint: true });
  t.equal(s.mtimeNs, s.ctimeNs, 'new directory mtime equals ctime');
  t.equal(s.atimeNs, s.mtimeNs, 'new directory atime equals mtime');
  t.equal(s.mtimeNs, lstatSync(d, { bigint: true }).mtimeNs, 'parent mtime equals the new directory mtime');
});

t.test('returns EEXIST when the name exists, whatever it is', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  mkdirSync(join(d, 'dir'));
  symlinkSync('missing', join(d, 'dangling'));
  for (const n of ['f', 'dir', 'dangling']) t.equal(errnoOf(() => mkdirSync(join(d, n))), 'EEXIST', n);
  t.equal(errnoOf(() => mkdirSync(d)), 'EEXIST', 'the directory itself');
});

t.test('returns ENOENT, ENOTDIR and ENAMETOOLONG for bad paths', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(errnoOf(() => mkdirSync(join(d, 'missing', 'a'))), 'ENOENT');
  t.equal(errnoOf(() => mkdirSync(join(d, 'f', 'a'))), 'ENOTDIR');
  t.equal(errnoOf(() => mkdirSync(join(d, NAME_TOO_LONG))), 'ENAMETOOLONG');
  t.equal(errnoOf(() => mkdirSync(join(d, NAME_LONGEST))), 'OK', '255 bytes is allowed');
});

t.test('returns EACCES when the parent is not writable or not searchable', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'ro'), 0o755);
  t.equal(await asUser(UID_A, GID_A, ['mkdir', join(d, 'ro', 'a'), 0o755]), 'EACCES');
  mkdirSync(join(d, 'nox'));
  chmodSync(join(d, 'nox'), 0o776);
  t.equal(await asUserGroups({ uid: UID_A, gid: GID_A }, ['mkdir', join(d, 'nox', 'a'), 0o755]), 'EACCES');
  t.equal(errnoOf(() => lstatSync(join(d, 'ro', 'a'))), 'ENOENT', 'nothing created');
});
