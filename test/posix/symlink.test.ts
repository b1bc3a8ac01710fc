// symlink(2)/readlink(2): targets kept byte for byte, dangling links, loops, lengths (pjdfstest tests/symlink).
import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync, readFileSync, symlinkSync, lstatSync, statSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, UID_A, GID_A, NAME_TOO_LONG } from '../helpers/posix.js';
import { asUser } from '../helpers/posix-sys.js';

const target = await posixTarget(t);

t.test('creates a symlink whose target reads back exactly', async (t) => {
  const d = freshDir(target, t.name);
  const targets = ['f', '../x/./y//z', '/absolute/path', ' spaces and ünïcödé ', 'a'.repeat(255) + '/' + 'b'.repeat(255)];
  targets.forEach((tg, i) => {
    symlinkSync(tg, join(d, `l${i}`));
    t.equal(readlinkSync(join(d, `l${i}`)), tg);
    const s = lstatSync(join(d, `l${i}`));
    t.ok(s.isSymbolicLink());
    t.equal(s.size, Buffer.byteLength(tg), 'size is the target length in bytes');
    t.equal(s.mode & 0o777, 0o777);
  });
});

t.test('keeps a target of 4095 bytes and returns ENAMETOOLONG for 4096', async (t) => {
  const d = freshDir(target, t.name);
  const long = ('c'.repeat(200) + '/').repeat(21).slice(0, 4095);
  t.equal(long.length, 4095);
  t.equal(errnoOf(() => symlinkSync(long, join(d, 'ok'))), 'OK');
  t.equal(readlinkSync(join(d, 'ok')), long);
  t.equal(errnoOf(() => symlinkSync(long + 'x', join(d, 'toolong'))), 'ENAMETOOLONG');
});

t.test('may dangle: lstat works and stat returns ENOENT', async (t) => {
  const d = freshDir(target, t.name);
  symlinkSync('missing', join(d, 'l'));
  t.ok(lstatSync(join(d, 'l')).isSymbolicLink());
  t.equal(errnoOf(() => statSync(join(d, 'l'))), 'ENOENT');
  writeFileSync(join(d, 'missing'), 'now here');
  t.equal(readFileSync(join(d, 'l'), 'utf8'), 'now here', 'resolved when the target appears');
});

t.test('is followed for reads and writes of the target', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'dir'));
  writeFileSync(join(d, 'dir', 'f'), 'x');
  symlinkSync('dir', join(d, 'ld'));
  symlinkSync('ld/f', join(d, 'lf'));
  writeFileSync(join(d, 'lf'), 'through two links');
  t.equal(readFileSync(join(d, 'dir', 'f'), 'utf8'), 'through two links');
  t.equal(statSync(join(d, 'lf')).ino, lstatSync(join(d, 'dir', 'f')).ino);
});

t.test('returns ELOOP for symlink loops', async (t) => {
  const d = freshDir(target, t.name);
  symlinkSync('self', join(d, 'self'));
  symlinkSync('b', join(d, 'a'));
  symlinkSync('a', join(d, 'b'));
  t.equal(errnoOf(() => statSync(join(d, 'self'))), 'ELOOP');
  t.equal(errnoOf(() => statSync(join(d, 'a'))), 'ELOOP');
  t.equal(errnoOf(() => statSync(join(d, 'a', 'x'))), 'ELOOP', 'as a path component');
  t.equal(errnoOf(() => readlinkSync(join(d, 'a'))), 'OK', 'readlink does not follow');
});

t.test('returns EEXIST when the name exists', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  mkdirSync(join(d, 'dir'));
  symlinkSync('missing', join(d, 'dangling'));
  for (const n of ['f', 'dir', 'dangling']) t.equal(errnoOf(() => symlinkSync('t', join(d, n))), 'EEXIST', n);
  t.equal(readlinkSync(join(d, 'dangling')), 'missing');
});

t.test('returns ENOENT, ENOTDIR and ENAMETOOLONG for bad names', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(errnoOf(() => symlinkSync('t', join(d, 'missing', 'l'))), 'ENOENT');
  t.equal(errnoOf(() => symlinkSync('t', join(d, 'f', 'l'))), 'ENOTDIR');
  t.equal(errnoOf(() => symlinkSync('t', join(d, NAME_TOO_LONG))), 'ENAMETOOLONG');
  t.equal(errnoOf(() => symlinkSync('', join(d, 'empty'))), 'ENOENT', 'an empty target');
});

t.test('returns EINVAL from readlink of something that is not a symlink', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(errnoOf(() => readlinkSync(join(d, 'f'))), 'EINVAL');
  t.equal(errnoOf(() => readlinkSync(d)), 'EINVAL');
  t.equal(errnoOf(() => readlinkSync(join(d, 'missing'))), 'ENOENT');
});

t.test('sets the owner to the caller and returns EACCES in a directory without write permission', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'rw'));
  chmodSync(join(d, 'rw'), 0o777);
  t.equal(await asUser(UID_A, GID_A, ['symlink', 't', join(d, 'rw', 'l')]), 'OK');
  const s = lstatSync(join(d, 'rw', 'l'));
  t.same([s.uid, s.gid], [UID_A, GID_A]);
  t.equal(await asUser(UID_A, GID_A, ['symlink', 't', join(d, 'l')]), 'EACCES');
});

t.test('updates the mtime and ctime of the parent', async (t) => {
  const d = freshDir(target, t.name);
  const [parent] = await timeChanges([d], () => symlinkSync('t', join(d, 'l')));
  t.same(parent, { mtime: true, ctime: true });
  const s = lstatSync(join(d, 'l'), { bigint: true });
  t.equal(s.mtimeNs, s.ctimeNs, 'new link mtime equals ctime');
});
