// chown(2)/lchown(2)/fchown(2): owners, groups, privilege rules and setuid/setgid clearing
// (pjdfstest tests/chown).
import t from 'tap';
import { chmodSync, chownSync, fchownSync, openSync, closeSync, writeFileSync, mkdirSync, symlinkSync, lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, modeOf, UID_A, GID_A, UID_B, GID_B, GID_C, NAME_TOO_LONG, ownedFile } from '../helpers/posix.js';
import { asUser, asUserGroups, sys } from '../helpers/posix-sys.js';

const target = await posixTarget(t);
const owner = (p: string) => { const s = lstatSync(p); return [s.uid, s.gid]; };

t.test('root changes the owner and group of a file and a directory', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  mkdirSync(join(d, 'sub'));
  chownSync(join(d, 'f'), UID_A, GID_B);
  chownSync(join(d, 'sub'), UID_B, GID_A);
  t.same(owner(join(d, 'f')), [UID_A, GID_B]);
  t.same(owner(join(d, 'sub')), [UID_B, GID_A]);
  chownSync(join(d, 'f'), 0, 0);
  t.same(owner(join(d, 'f')), [0, 0], 'and back to root');
});

t.test('leaves the owner or the group unchanged when given -1', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A);
  chownSync(f, -1, GID_B);
  t.same(owner(f), [UID_A, GID_B]);
  chownSync(f, UID_B, -1);
  t.same(owner(f), [UID_B, GID_B]);
});

t.test('chown follows a symlink and lchown changes the link itself', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  symlinkSync('f', join(d, 'l'));
  chownSync(join(d, 'l'), UID_A, GID_A);
  t.same(owner(join(d, 'f')), [UID_A, GID_A], 'target changed');
  t.same(owner(join(d, 'l')), [0, 0], 'link unchanged');
  t.equal(await sys('lchown', join(d, 'l'), UID_B, GID_B), 'OK');
  t.same(owner(join(d, 'l')), [UID_B, GID_B], 'link changed');
  t.same(owner(join(d, 'f')), [UID_A, GID_A], 'target unchanged');
});

t.test('fchown changes the owner of an open file', async (t) => {
  const d = freshDir(target, t.name);
  const fd = openSync(join(d, 'f'), 'w');
  fchownSync(fd, UID_A, GID_B);
  closeSync(fd);
  t.same(owner(join(d, 'f')), [UID_A, GID_B]);
});

t.test('updates ctime but not mtime', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  const [f, parent] = await timeChanges([join(d, 'f'), d], () => chownSync(join(d, 'f'), UID_A, GID_A));
  t.same(f, { mtime: false, ctime: true }, 'file');
  t.same(parent, { mtime: false, ctime: false }, 'parent');
  symlinkSync('f', join(d, 'l'));
  const [l] = await timeChanges([join(d, 'l')], () => sys('lchown', join(d, 'l'), UID_B, GID_B));
  t.same(l, { mtime: false, ctime: true }, 'symlink by lchown');
});

t.test('returns EPERM when a user who is not root gives a file away', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A);
  t.equal(await asUser(UID_A, GID_A, ['chown', f, UID_B, -1]), 'EPERM', 'owner cannot give it away');
  t.equal(await asUser(UID_B, GID_B, ['chown', f, UID_B, -1]), 'EPERM', 'non-owner cannot take it');
  t.equal(await asUser(UID_B, GID_B, ['chown', f, -1, GID_B]), 'EPERM', 'non-owner cannot change the group');
  t.same(owner(f), [UID_A, GID_A]);
});

t.test('lets the owner change the group only to a group it belongs to', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A);
  const cred = { uid: UID_A, gid: GID_A, groups: [GID_A, GID_C] };
  t.equal(await asUserGroups(cred, ['chown', f, -1, GID_C]), 'OK');
  t.same(owner(f), [UID_A, GID_C]);
  t.equal(await asUserGroups(cred, ['chown', f, -1, GID_B]), 'EPERM');
  t.equal(await asUserGroups(cred, ['chown', f, UID_A, GID_A]), 'OK', 'own uid with a member group');
  t.same(owner(f), [UID_A, GID_A]);
});

t.test('clears setuid and setgid when the owner changes the group without privileges', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A, 0o6755);
  t.equal(await asUserGroups({ uid: UID_A, gid: GID_A, groups: [GID_A, GID_C] }, ['chown', f, -1, GID_C]), 'OK');
  t.equal(modeOf(f), 0o755);
});

t.test('clears setuid and setgid of a regular file when root changes its owner', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  chmodSync(f, 0o6755);
  chownSync(f, UID_A, GID_A);
  t.equal(modeOf(f), 0o755, 'as Linux does for a file with group execute');
  mkdirSync(join(d, 'sub'));
  chmodSync(join(d, 'sub'), 0o2755);
  chownSync(join(d, 'sub'), UID_A, GID_A);
  t.equal(modeOf(join(d, 'sub')), 0o2755, 'a directory keeps setgid');
});

t.test('returns ENOENT, ENOTDIR and ENAMETOOLONG for bad paths', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  symlinkSync('missing', join(d, 'dangling'));
  t.equal(errnoOf(() => chownSync(join(d, 'missing'), UID_A, GID_A)), 'ENOENT');
  t.equal(errnoOf(() => chownSync(join(d, 'dangling'), UID_A, GID_A)), 'ENOENT', 'dangling symlink');
  t.equal(errnoOf(() => chownSync(join(d, 'f', 'x'), UID_A, GID_A)), 'ENOTDIR');
  t.equal(errnoOf(() => chownSync(join(d, NAME_TOO_LONG), UID_A, GID_A)), 'ENAMETOOLONG');
});

t.test('returns EACCES when search permission is denied on a path component', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'closed'));
  writeFileSync(join(d, 'closed', 'f'), 'x');
  chownSync(join(d, 'closed', 'f'), UID_A, GID_A);
  chmodSync(join(d, 'closed'), 0o700);
  t.equal(await asUser(UID_A, GID_A, ['chown', join(d, 'closed', 'f'), -1, GID_A]), 'EACCES');
});

t.test('keeps large uids and gids exactly', async (t) => {
  const d = freshDir(target, t.name);
  const f = join(d, 'f');
  writeFileSync(f, 'x');
  chownSync(f, 2 ** 31 + 7, 4294967294);
  const s = statSync(f);
  t.same([s.uid, s.gid], [2 ** 31 + 7, 4294967294]);
});
