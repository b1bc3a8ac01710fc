// readdir(3)/getdents(2): every name exactly once, types, long and non-ASCII names, permissions.
import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync, symlinkSync, lstatSync, readdirSync, unlinkSync, opendirSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf, UID_A, GID_A, NAME_LONGEST } from '../helpers/posix.js';
import { asUser, sys } from '../helpers/posix-sys.js';

const target = await posixTarget(t);

t.test('lists every name exactly once in a directory of 1100 entries (past one 1024-entry reply)', async (t) => {
  const d = freshDir(target, t.name);
  const names = Array.from({ length: 1100 }, (_, i) => `entry-${i}`);
  for (const n of names) writeFileSync(join(d, n), '');
  const listed = readdirSync(d);
  t.equal(listed.length, names.length, 'count');
  t.equal(new Set(listed).size, listed.length, 'no duplicates');
  t.same([...listed].sort(), [...names].sort(), 'same names');
  for (const n of names.slice(0, 500)) unlinkSync(join(d, n));
  t.same(readdirSync(d).sort(), names.slice(500).sort(), 'after removing some');
});

t.test('reports the type of each entry', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'file'), 'x');
  mkdirSync(join(d, 'dir'));
  symlinkSync('file', join(d, 'link'));
  await sys('mkfifo', join(d, 'fifo'), 0o644);
  const types = Object.fromEntries(readdirSync(d, { withFileTypes: true }).map((e) =>
    [e.name, e.isFile() ? 'file' : e.isDirectory() ? 'dir' : e.isSymbolicLink() ? 'link' : e.isFIFO() ? 'fifo' : '?']));
  t.same(types, { file: 'file', dir: 'dir', link: 'link', fifo: 'fifo' });
});

t.test('keeps names of 255 bytes and non-ASCII names byte for byte', async (t) => {
  const d = freshDir(target, t.name);
  const names = [NAME_LONGEST, 'ünïcödé-日本語-😀', 'with space', 'a\tb', '-dash', '.hidden', '...'];
  for (const n of names) writeFileSync(join(d, n), n);
  t.same(readdirSync(d).sort(), [...names].sort());
  const raw = readdirSync(d, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort();
  t.same(raw, names.map((n) => Buffer.from(n).toString('hex')).sort(), 'bytes');
});

t.test('has . and .. with the right inodes', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'sub'));
  t.equal(lstatSync(join(d, 'sub', '.')).ino, lstatSync(join(d, 'sub')).ino);
  t.equal(lstatSync(join(d, 'sub', '..')).ino, lstatSync(d).ino);
  const dir = opendirSync(join(d, 'sub'));
  t.equal(dir.readSync(), null, 'Node hides . and ..; nothing else is listed');
  dir.closeSync();
});

t.test('returns ENOTDIR for a file and ENOENT for a missing directory', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(errnoOf(() => readdirSync(join(d, 'f'))), 'ENOTDIR');
  t.equal(errnoOf(() => readdirSync(join(d, 'missing'))), 'ENOENT');
});

t.test('needs read permission to list and only search permission to reach a known name', async (t) => {
  const d = freshDir(target, t.name);
  mkdirSync(join(d, 'x'));
  writeFileSync(join(d, 'x', 'known'), 'x');
  chmodSync(join(d, 'x'), 0o711);
  t.equal(await asUser(UID_A, GID_A, ['readdir', join(d, 'x')]), 'EACCES');
  t.equal(typeof (await asUser(UID_A, GID_A, ['stat', join(d, 'x', 'known')])), 'object', 'stat through search permission');
  chmodSync(join(d, 'x'), 0o755);
  t.same(await asUser(UID_A, GID_A, ['readdir', join(d, 'x')]), ['known']);
});
