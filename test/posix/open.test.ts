// open(2): O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW, permissions, and the
// setuid/setgid clearing of an unprivileged write (pjdfstest tests/open).
import t from 'tap';
import { chmodSync, chownSync, mkdirSync, writeFileSync, readFileSync, symlinkSync, lstatSync, openSync, closeSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, modeOf, UID_A, GID_A, UID_B, GID_B, NAME_TOO_LONG, ownedFile } from '../helpers/posix.js';
import { asUser, sys, hex } from '../helpers/posix-sys.js';

const target = await posixTarget(t);
const { O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_WRONLY, O_RDONLY, O_RDWR, O_DIRECTORY, O_NOFOLLOW } = constants;
const tryOpen = (p: string, flags: number, mode = 0o644) => errnoOf(() => closeSync(openSync(p, flags, mode)));

t.test('creates a file with O_CREAT, with the mode less the umask and the caller as owner', async (t) => {
  const d = freshDir(target, t.name);
  chmodSync(d, 0o777);
  t.equal(await asUser(UID_A, GID_A, ['umask', 0o027], ['open', join(d, 'f'), ['O_CREAT', 'O_WRONLY'], 0o666], ['close', { $: 1 }]), 'OK');
  const s = lstatSync(join(d, 'f'));
  t.ok(s.isFile());
  t.equal(s.mode & 0o7777, 0o640);
  t.same([s.uid, s.gid, s.size, s.nlink], [UID_A, GID_A, 0, 1]);
});

t.test('updates the parent mtime and ctime on create, and not when the file exists', async (t) => {
  const d = freshDir(target, t.name);
  const [created] = await timeChanges([d], () => closeSync(openSync(join(d, 'f'), O_CREAT | O_WRONLY)));
  t.same(created, { mtime: true, ctime: true }, 'create');
  const [again, f] = await timeChanges([d, join(d, 'f')], () => closeSync(openSync(join(d, 'f'), O_CREAT | O_WRONLY)));
  t.same(again, { mtime: false, ctime: false }, 'parent, existing file');
  t.same(f, { mtime: false, ctime: false }, 'the existing file itself');
  const s = lstatSync(join(d, 'f'), { bigint: true });
  t.equal(s.mtimeNs, s.ctimeNs, 'new file mtime equals ctime');
});

t.test('returns EEXIST with O_CREAT|O_EXCL when the name exists, even as a dangling symlink', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'keep');
  mkdirSync(join(d, 'dir'));
  symlinkSync('missing', join(d, 'dangling'));
  for (const n of ['f', 'dir', 'dangling']) t.equal(tryOpen(join(d, n), O_CREAT | O_EXCL | O_WRONLY), 'EEXIST', n);
  t.equal(readFileSync(join(d, 'f'), 'utf8'), 'keep');
  t.equal(errnoOf(() => lstatSync(join(d, 'missing'))), 'ENOENT', 'nothing created through the symlink');
  t.equal(tryOpen(join(d, 'new'), O_CREAT | O_EXCL | O_WRONLY), 'OK');
});

t.test('creates the target of a dangling symlink with O_CREAT alone', async (t) => {
  const d = freshDir(target, t.name);
  symlinkSync('created', join(d, 'l'));
  t.equal(tryOpen(join(d, 'l'), O_CREAT | O_WRONLY), 'OK');
  t.ok(lstatSync(join(d, 'created')).isFile());
});

t.test('truncates with O_TRUNC and updates mtime and ctime', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'some content');
  const [c] = await timeChanges([f], () => closeSync(openSync(f, O_WRONLY | O_TRUNC)));
  t.equal(lstatSync(f).size, 0);
  t.same(c, { mtime: true, ctime: true });
});

t.test('appends with O_APPEND whatever another descriptor wrote meanwhile', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'abc');
  const a = openSync(f, O_WRONLY | O_APPEND);
  const other = openSync(f, O_WRONLY);
  writeSync(other, '12345', 0);
  writeSync(a, 'XY');
  writeSync(other, 'Q', 0);
  writeSync(a, 'Z', 0); // Linux: a position is ignored with O_APPEND
  closeSync(a);
  closeSync(other);
  t.equal(readFileSync(f, 'utf8'), 'Q2345XYZ');
  t.equal(await sysGetfl(f), O_APPEND, 'fcntl(F_GETFL) reports O_APPEND');
});

async function sysGetfl(f: string) {
  const r = await asUser(0, 0, ['open', f, ['O_WRONLY', 'O_APPEND']], ['getfl', { $: 0 }]);
  return (r as number) & O_APPEND;
}

t.test('returns EISDIR when opening a directory for writing', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(tryOpen(d, O_WRONLY), 'EISDIR');
  t.equal(tryOpen(d, O_RDWR), 'EISDIR');
  t.equal(tryOpen(d, O_RDONLY), 'OK');
});

t.test('returns ENOTDIR for O_DIRECTORY on a file and for a file as a path component', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(tryOpen(join(d, 'f'), O_RDONLY | O_DIRECTORY), 'ENOTDIR');
  t.equal(tryOpen(join(d, 'f', 'x'), O_RDONLY), 'ENOTDIR');
  t.equal(tryOpen(join(d, 'f', 'x'), O_CREAT | O_WRONLY), 'ENOTDIR');
});

t.test('returns ENOENT without O_CREAT and for a missing parent', async (t) => {
  const d = freshDir(target, t.name);
  symlinkSync('missing', join(d, 'dangling'));
  t.equal(tryOpen(join(d, 'missing'), O_RDONLY), 'ENOENT');
  t.equal(tryOpen(join(d, 'dangling'), O_RDONLY), 'ENOENT');
  t.equal(tryOpen(join(d, 'nodir', 'f'), O_CREAT | O_WRONLY), 'ENOENT');
});

t.test('returns ELOOP for O_NOFOLLOW on a symlink and for a symlink loop', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  symlinkSync('f', join(d, 'l'));
  symlinkSync('b', join(d, 'a'));
  symlinkSync('a', join(d, 'b'));
  t.equal(tryOpen(join(d, 'l'), O_RDONLY | O_NOFOLLOW), 'ELOOP');
  t.equal(tryOpen(join(d, 'a'), O_RDONLY), 'ELOOP');
  t.equal(tryOpen(join(d, 'a'), O_CREAT | O_WRONLY), 'ELOOP');
});

t.test('returns ENAMETOOLONG for a name of 256 bytes', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(tryOpen(join(d, NAME_TOO_LONG), O_CREAT | O_WRONLY), 'ENAMETOOLONG');
  t.equal(tryOpen(join(d, NAME_TOO_LONG), O_RDONLY), 'ENAMETOOLONG');
});

t.test('returns EACCES when opening without read or write permission', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  chmodSync(f, 0o644);
  t.equal(await asUser(UID_A, GID_A, ['open', f, ['O_WRONLY']]), 'EACCES', 'write, other has r--');
  t.equal(await asUser(UID_A, GID_A, ['open', f, ['O_RDWR']]), 'EACCES');
  t.equal(await asUser(UID_A, GID_A, ['open', f, ['O_RDONLY']], ['close', { $: 0 }]), 'OK', 'read is allowed');
  t.equal(await asUser(UID_A, GID_A, ['open', f, ['O_WRONLY', 'O_TRUNC']]), 'EACCES', 'O_TRUNC');
  chownSync(f, UID_A, GID_A);
  chmodSync(f, 0o200);
  t.equal(await asUser(UID_A, GID_A, ['open', f, ['O_RDONLY']]), 'EACCES', 'owner without read permission');
  t.equal(await asUser(UID_A, GID_A, ['open', f, ['O_WRONLY']], ['close', { $: 0 }]), 'OK', 'owner write');
  chmodSync(f, 0o040);
  t.equal(await asUser(UID_A, GID_A, ['open', f, ['O_RDONLY']]), 'EACCES', 'owner bits apply, not group bits');
  t.equal(lstatSync(f).size, 1, 'nothing truncated');
});

t.test('returns EACCES when creating in a directory without write permission', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'ro'), 0o755);
  t.equal(await asUser(UID_A, GID_A, ['open', join(d, 'ro', 'f'), ['O_CREAT', 'O_WRONLY']]), 'EACCES');
  t.equal(errnoOf(() => lstatSync(join(d, 'ro', 'f'))), 'ENOENT');
});

t.test('clears setuid and setgid when an unprivileged user writes', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A, 0o6777);
  t.equal(await asUser(UID_B, GID_B, ['open', f, ['O_WRONLY']], ['write', { $: 0 }, 'data'], ['close', { $: 0 }]), 'OK');
  t.equal(modeOf(f), 0o777, 'cleared by a write from another user');
  chmodSync(f, 0o6777);
  t.equal(await asUser(UID_A, GID_A, ['open', f, ['O_WRONLY']], ['pwrite', { $: 0 }, hex('z'), 10], ['close', { $: 0 }]), 'OK');
  t.equal(modeOf(f), 0o777, 'cleared by a write from the owner too');
  chmodSync(f, 0o6777);
  const fd = openSync(f, O_WRONLY);
  writeSync(fd, 'root');
  closeSync(fd);
  t.equal(modeOf(f), 0o6777, 'kept when root writes');
});

t.test('an unprivileged write clears setuid and setgid before it returns (pjdfstest chmod/12)', async (t) => {
  const d = freshDir(target, t.name);
  // Setgid without group execute goes too when the writer is outside the file's group (Linux 6.2+).
  for (const [mode, after] of [[0o4777, 0o777], [0o2777, 0o777], [0o6777, 0o777], [0o2767, 0o767], [0o6767, 0o767]]) {
    const f = ownedFile(d, UID_A, GID_A, mode, `f${mode.toString(8)}`);
    const st = await asUser(UID_B, GID_B, ['open', f, ['O_RDWR']], ['write', { $: 0 }, 'x'], ['fstat', { $: 0 }]);
    t.equal(((st as { mode: number }).mode & 0o7777).toString(8), after.toString(8), `${mode.toString(8)}: fstat on the writing descriptor`);
    t.equal(modeOf(f).toString(8), after.toString(8), `${mode.toString(8)}: after the close`);
  }
});

t.test('an unprivileged truncate clears setuid and setgid; root\'s keeps them', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A, 0o6777);
  t.equal(await asUser(UID_B, GID_B, ['truncate', f, 0]), 'OK');
  t.equal(modeOf(f).toString(8), '777', 'truncate(2)');
  chmodSync(f, 0o6777);
  t.equal(await asUser(UID_B, GID_B, ['open', f, ['O_RDWR']], ['ftruncate', { $: 0 }, 3]), 'OK');
  t.equal(modeOf(f).toString(8), '777', 'ftruncate(2)');
  chmodSync(f, 0o6777);
  t.equal(await asUser(UID_B, GID_B, ['open', f, ['O_WRONLY', 'O_TRUNC']], ['close', { $: 0 }]), 'OK');
  t.equal(modeOf(f).toString(8), '777', 'open with O_TRUNC');
  chmodSync(f, 0o6777);
  t.equal(await sys('truncate', f, 1), 'OK');
  t.equal(modeOf(f).toString(8), '6777', 'root truncates without clearing');
});

t.test('a writer in the file\'s group keeps setgid without group execute', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_B, 0o2767);
  const st = await asUser(UID_B, GID_B, ['open', f, ['O_RDWR']], ['write', { $: 0 }, 'x'], ['fstat', { $: 0 }]);
  t.equal(((st as { mode: number }).mode & 0o7777).toString(8), '2767', 'fstat on the writing descriptor');
  t.equal(modeOf(f).toString(8), '2767', 'after the close');
});

t.test('keeps write access through an open descriptor after the mode is set to 0', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A);
  t.equal(await asUser(UID_A, GID_A, ['open', f, ['O_RDWR']], ['fchmod', { $: 0 }, 0], ['write', { $: 0 }, 'abc'], ['close', { $: 0 }]), 'OK',
    'permissions are checked at open, not at write');
  t.equal(await sys('stat', f).then((s) => (s as { size: number }).size), 3);
});
