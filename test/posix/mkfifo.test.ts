// mkfifo(3): named pipes are created by the file system and carry data through the kernel
// (pjdfstest tests/mkfifo).
import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync, symlinkSync, lstatSync, openSync, closeSync, writeSync, readSync, constants } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, timeChanges, modeOf, UID_A, GID_A, NAME_TOO_LONG } from '../helpers/posix.js';
import { asUser, sys } from '../helpers/posix-sys.js';

const target = await posixTarget(t);

t.test('creates a fifo with the requested mode', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(await asUser(0, 0, ['umask', 0], ['mkfifo', join(d, 'p'), 0o640]), 'OK');
  const s = lstatSync(join(d, 'p'));
  t.ok(s.isFIFO(), 'a fifo');
  t.equal(modeOf(join(d, 'p')), 0o640);
  t.equal(s.size, 0);
  t.equal(s.nlink, 1);
});

t.test('sets the owner to the caller', async (t) => {
  const d = freshDir(target, t.name);
  chmodSync(d, 0o777);
  t.equal(await asUser(UID_A, GID_A, ['mkfifo', join(d, 'p'), 0o644]), 'OK');
  const s = lstatSync(join(d, 'p'));
  t.same([s.uid, s.gid], [UID_A, GID_A]);
});

t.test('passes data from a writer to a reader', async (t) => {
  const d = freshDir(target, t.name);
  t.equal(await sys('mkfifo', join(d, 'p'), 0o644), 'OK');
  const r = openSync(join(d, 'p'), constants.O_RDONLY | constants.O_NONBLOCK);
  const w = openSync(join(d, 'p'), constants.O_WRONLY);
  writeSync(w, 'through the pipe');
  const buf = Buffer.alloc(64);
  const n = readSync(r, buf);
  closeSync(w);
  closeSync(r);
  t.equal(buf.subarray(0, n).toString(), 'through the pipe');
  t.equal(lstatSync(join(d, 'p')).size, 0, 'nothing stored in the file system');
});

t.test('updates the mtime and ctime of the parent', async (t) => {
  const d = freshDir(target, t.name);
  const [parent] = await timeChanges([d], () => sys('mkfifo', join(d, 'p'), 0o644));
  t.same(parent, { mtime: true, ctime: true });
});

t.test('returns EEXIST when the name exists', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  mkdirSync(join(d, 'dir'));
  symlinkSync('missing', join(d, 'dangling'));
  await sys('mkfifo', join(d, 'p'), 0o644);
  for (const n of ['f', 'dir', 'dangling', 'p']) t.equal(await sys('mkfifo', join(d, n), 0o644), 'EEXIST', n);
});

t.test('returns ENOENT, ENOTDIR and ENAMETOOLONG for bad paths', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(await sys('mkfifo', join(d, 'missing', 'p'), 0o644), 'ENOENT');
  t.equal(await sys('mkfifo', join(d, 'f', 'p'), 0o644), 'ENOTDIR');
  t.equal(await sys('mkfifo', join(d, NAME_TOO_LONG), 0o644), 'ENAMETOOLONG');
});

t.test('returns EACCES when the parent is not writable', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'ro'), 0o755);
  t.equal(await asUser(UID_A, GID_A, ['mkfifo', join(d, 'ro', 'p'), 0o644]), 'EACCES');
  t.equal(errnoOf(() => lstatSync(join(d, 'ro', 'p'))), 'ENOENT');
});
