// setxattr(2)/getxattr(2)/listxattr(2)/removexattr(2): user.* attributes with XATTR_CREATE and
// XATTR_REPLACE, sizes, limits and permissions.
import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync, linkSync, renameSync, unlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, timeChanges, UID_A, GID_A, UID_B, GID_B, ownedFile } from '../helpers/posix.js';
import { asUser, sys, hex, bytes } from '../helpers/posix-sys.js';

const target = await posixTarget(t);

t.test('sets, gets, lists and removes user attributes on a file and a directory', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  for (const p of [f, d]) {
    const binary = Buffer.from([0, 1, 2, 255, 0, 10, 13]);
    t.equal(await sys('setxattr', p, 'user.text', 'hello'), 'OK');
    t.equal(await sys('setxattr', p, 'user.binary', hex(binary)), 'OK');
    t.equal(await sys('setxattr', p, 'user.empty', hex('')), 'OK');
    t.same(bytes(await sys('getxattr', p, 'user.text')), Buffer.from('hello'));
    t.same(bytes(await sys('getxattr', p, 'user.binary')), binary, 'binary value exact');
    t.same(bytes(await sys('getxattr', p, 'user.empty')), Buffer.alloc(0), 'empty value');
    t.same(await sys('listxattr', p), ['user.binary', 'user.empty', 'user.text']);
    t.equal(await sys('removexattr', p, 'user.text'), 'OK');
    t.same(await sys('listxattr', p), ['user.binary', 'user.empty']);
    t.equal(await sys('getxattr', p, 'user.text'), 'ENODATA', 'gone');
  }
});

t.test('overwrites a value, longer or shorter', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  await sys('setxattr', f, 'user.a', 'short');
  await sys('setxattr', f, 'user.a', 'a much longer value');
  t.same(bytes(await sys('getxattr', f, 'user.a')), Buffer.from('a much longer value'));
  await sys('setxattr', f, 'user.a', 'z');
  t.same(bytes(await sys('getxattr', f, 'user.a')), Buffer.from('z'));
});

t.test('returns EEXIST for XATTR_CREATE of an existing name and ENODATA for XATTR_REPLACE of a missing one', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  t.equal(await sys('setxattr', f, 'user.a', 'one', ['XATTR_CREATE']), 'OK');
  t.equal(await sys('setxattr', f, 'user.a', 'two', ['XATTR_CREATE']), 'EEXIST');
  t.same(bytes(await sys('getxattr', f, 'user.a')), Buffer.from('one'), 'unchanged');
  t.equal(await sys('setxattr', f, 'user.b', 'two', ['XATTR_REPLACE']), 'ENODATA');
  t.equal(await sys('getxattr', f, 'user.b'), 'ENODATA', 'not created');
  t.equal(await sys('setxattr', f, 'user.a', 'three', ['XATTR_REPLACE']), 'OK');
  t.same(bytes(await sys('getxattr', f, 'user.a')), Buffer.from('three'));
});

t.test('returns ENODATA when getting or removing a missing attribute', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  t.equal(await sys('getxattr', f, 'user.none'), 'ENODATA');
  t.equal(await sys('removexattr', f, 'user.none'), 'ENODATA');
  t.same(await sys('listxattr', f), [], 'a new file has no user attributes');
});

t.test('reports sizes and returns ERANGE when the buffer is too small', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  await sys('setxattr', f, 'user.a', 'abcdef');
  await sys('setxattr', f, 'user.bb', 'x');
  t.equal(await sys('getxattr_sized', f, 'user.a', 0), 6, 'size query');
  t.equal(await sys('getxattr_sized', f, 'user.a', 5), 'ERANGE');
  t.same(bytes(await sys('getxattr_sized', f, 'user.a', 6)), Buffer.from('abcdef'), 'exact size is enough');
  t.equal(await sys('listxattr_sized', f, 0), 'user.a\0user.bb\0'.length, 'list size query');
  t.equal(await sys('listxattr_sized', f, 10), 'ERANGE');
  t.same((await sys('listxattr_sized', f, 15) as string[]).sort(), ['user.a', 'user.bb']);
});

t.test('returns E2BIG for a value over 64 KiB and ERANGE for a name over 255 bytes', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  t.equal(await sys('setxattr', f, 'user.big', hex(Buffer.alloc(64 * 1024 + 1, 1))), 'E2BIG');
  const max = await sys('setxattr', f, 'user.max', hex(Buffer.alloc(64 * 1024, 2)));
  t.ok(['OK', 'ENOSPC', 'E2BIG'].includes(max as string), `64 KiB value: ${max}`);
  if (max === 'OK') t.equal((bytes(await sys('getxattr', f, 'user.max')) as Buffer).length, 64 * 1024, 'stored whole');
  t.equal(await sys('setxattr', f, 'user.' + 'n'.repeat(251), 'v'), 'ERANGE', '256-byte name');
  t.equal(await sys('setxattr', f, 'user.' + 'n'.repeat(250), 'v'), 'OK', '255-byte name');
  t.equal(await sys('setxattr', f, 'user.', 'v'), 'EINVAL', 'empty name after the prefix');
});

// On Linux EOPNOTSUPP and ENOTSUP are the same number (95); Node and Python name it ENOTSUP.
t.test('returns EOPNOTSUPP for a name outside the known namespaces', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  t.equal(await sys('setxattr', f, 'nonamespace', 'v'), 'ENOTSUP');
  t.equal(await sys('setxattr', f, 'bogus.name', 'v'), 'ENOTSUP');
  t.same(await sys('listxattr', f), []);
});

t.test('updates ctime but not mtime', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  const [set] = await timeChanges([f], () => sys('setxattr', f, 'user.a', 'v'));
  t.same(set, { mtime: false, ctime: true }, 'setxattr');
  const [removed] = await timeChanges([f], () => sys('removexattr', f, 'user.a'));
  t.same(removed, { mtime: false, ctime: true }, 'removexattr');
  const [got] = await timeChanges([f], () => sys('getxattr', f, 'user.none'));
  t.same(got, { mtime: false, ctime: false }, 'a failed getxattr');
});

t.test('follows the inode across hard links and renames and goes with it', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'a'), 'x');
  await sys('setxattr', join(d, 'a'), 'user.k', 'v');
  linkSync(join(d, 'a'), join(d, 'b'));
  renameSync(join(d, 'a'), join(d, 'c'));
  t.same(bytes(await sys('getxattr', join(d, 'b'), 'user.k')), Buffer.from('v'));
  t.same(bytes(await sys('getxattr', join(d, 'c'), 'user.k')), Buffer.from('v'));
  unlinkSync(join(d, 'b'));
  unlinkSync(join(d, 'c'));
  writeFileSync(join(d, 'c'), 'new');
  t.equal(await sys('getxattr', join(d, 'c'), 'user.k'), 'ENODATA', 'a new file with the old name has none');
});

t.test('follows a symlink, and a user attribute on the link itself is refused', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  symlinkSync('f', join(d, 'l'));
  t.equal(await sys('setxattr', join(d, 'l'), 'user.k', 'v'), 'OK');
  t.same(bytes(await sys('getxattr', join(d, 'f'), 'user.k')), Buffer.from('v'), 'set on the target');
});

t.test('needs write permission to set and read permission to get', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A, 0o644);
  await sys('setxattr', f, 'user.k', 'v');
  t.equal(await asUser(UID_B, GID_B, ['setxattr', f, 'user.x', 'v']), 'EACCES', 'non-owner without write permission');
  t.same(bytes(await asUser(UID_B, GID_B, ['getxattr', f, 'user.k'])), Buffer.from('v'), 'read permission lets others get');
  t.equal(await asUser(UID_B, GID_B, ['removexattr', f, 'user.k']), 'EACCES', 'remove needs write permission');
  chmodSync(f, 0o600);
  t.equal(await asUser(UID_B, GID_B, ['getxattr', f, 'user.k']), 'EACCES', 'no read permission');
  t.equal(await asUser(UID_A, GID_A, ['setxattr', f, 'user.y', 'v']), 'OK', 'owner with write permission');
  mkdirSync(join(d, 'sticky'));
  chmodSync(join(d, 'sticky'), 0o1777);
  t.equal(await asUser(UID_B, GID_B, ['setxattr', join(d, 'sticky'), 'user.z', 'v']), 'EPERM', 'sticky directory, non-owner');
});
