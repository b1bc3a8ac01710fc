// chmod(2)/fchmod(2): modes, ctime, and who may change them (pjdfstest tests/chmod).
import t from 'tap';
import { chmodSync, chownSync, fchmodSync, openSync, closeSync, writeFileSync, mkdirSync, symlinkSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, modeOf, UID_A, GID_A, UID_B, GID_B, NAME_TOO_LONG, ownedFile } from '../helpers/posix.js';
import { asUser, asUserGroups } from '../helpers/posix-sys.js';

const target = await posixTarget(t);

t.test('changes the mode of a file and of a directory', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  mkdirSync(join(d, 'sub'));
  for (const mode of [0o600, 0o751, 0o4755, 0o2755, 0o1777, 0o7777, 0o000]) {
    chmodSync(join(d, 'f'), mode);
    chmodSync(join(d, 'sub'), mode);
    t.equal(modeOf(join(d, 'f')), mode, `file ${mode.toString(8)}`);
    t.equal(modeOf(join(d, 'sub')), mode, `dir ${mode.toString(8)}`);
  }
  t.equal(lstatSync(join(d, 'f')).mode & 0o170000, 0o100000, 'still a regular file');
});

t.test('follows a symlink and changes its target, not the link', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  chmodSync(join(d, 'f'), 0o644);
  symlinkSync('f', join(d, 'l'));
  chmodSync(join(d, 'l'), 0o600);
  t.equal(modeOf(join(d, 'f')), 0o600);
  t.equal(modeOf(join(d, 'l')), 0o777, 'a symlink keeps mode 0777');
});

t.test('fchmod changes the mode of an open file', async (t) => {
  const d = freshDir(target, t.name);
  const fd = openSync(join(d, 'f'), 'w', 0o644);
  fchmodSync(fd, 0o640);
  closeSync(fd);
  t.equal(modeOf(join(d, 'f')), 0o640);
});

t.test('updates ctime but not mtime of the file, and neither of the parent', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  mkdirSync(join(d, 'sub'));
  const [f, parent] = await timeChanges([join(d, 'f'), d], () => chmodSync(join(d, 'f'), 0o600));
  t.same(f, { mtime: false, ctime: true }, 'file');
  t.same(parent, { mtime: false, ctime: false }, 'parent');
  const [sub] = await timeChanges([join(d, 'sub')], () => chmodSync(join(d, 'sub'), 0o700));
  t.same(sub, { mtime: false, ctime: true }, 'directory');
});

t.test('returns ENOENT for a missing file and ENOTDIR when a path component is a file', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(errnoOf(() => chmodSync(join(d, 'missing'), 0o644)), 'ENOENT');
  t.equal(errnoOf(() => chmodSync(join(d, 'missing', 'x'), 0o644)), 'ENOENT');
  t.equal(errnoOf(() => chmodSync(join(d, 'f', 'x'), 0o644)), 'ENOTDIR');
});

t.test('returns ENAMETOOLONG for a name of 256 bytes', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(errnoOf(() => chmodSync(join(d, NAME_TOO_LONG), 0o644)), 'ENAMETOOLONG');
});

t.test('returns EPERM when a user who does not own the file changes its mode', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A, 0o666);
  t.equal(await asUser(UID_B, GID_B, ['chmod', f, 0o600]), 'EPERM');
  t.equal(await asUser(UID_B, GID_A, ['chmod', f, 0o600]), 'EPERM', 'sharing the group is not enough');
  t.equal(modeOf(f), 0o666, 'mode unchanged');
});

t.test('lets the owner change the mode without privileges', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_A);
  t.equal(await asUser(UID_A, GID_A, ['chmod', f, 0o4700]), 'OK');
  t.equal(modeOf(f), 0o4700);
  t.equal(await asUser(UID_A, GID_A, ['chmod', f, 0o000]), 'OK', 'even to no permissions at all');
  t.equal(modeOf(f), 0);
});

t.test('clears the setgid bit when the owner is not in the file group', async (t) => {
  const d = freshDir(target, t.name);
  const f = ownedFile(d, UID_A, GID_B);
  t.equal(await asUser(UID_A, GID_A, ['chmod', f, 0o2755]), 'OK');
  t.equal(modeOf(f), 0o755, 'setgid dropped');
  t.equal(await asUserGroups({ uid: UID_A, gid: GID_A, groups: [GID_B] }, ['chmod', f, 0o2755]), 'OK');
  t.equal(modeOf(f), 0o2755, 'kept when the group is a supplementary group');
});

t.test('returns EACCES when search permission is denied on a path component', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'closed'));
  writeFileSync(join(d, 'closed', 'f'), 'x');
  chownSync(join(d, 'closed', 'f'), UID_A, GID_A);
  chmodSync(join(d, 'closed'), 0o700);
  t.equal(await asUser(UID_A, GID_A, ['chmod', join(d, 'closed', 'f'), 0o600]), 'EACCES');
  chmodSync(join(d, 'closed'), 0o711);
  t.equal(await asUser(UID_A, GID_A, ['chmod', join(d, 'closed', 'f'), 0o600]), 'OK', 'search permission suffices');
});
