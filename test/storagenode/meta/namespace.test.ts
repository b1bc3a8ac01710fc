import t from 'tap';
import { LINK_COUNT_MAX } from '../../../shared/limits.js';
import { S_IFCHR, S_IFIFO, S_IFSOCK, S_ISGID } from '../../../shared/types.js';
import { ALICE, BOB, Harness, ROOT, ROOT_INO } from './harness.js';

t.test('starts with root directory 1 owned by root, mode 040755, nlink 2', async (t) => {
  const h = await Harness.create();
  t.match(await h.attr(ROOT_INO), { ino: 1, type: 'dir', mode: 0o40755, uid: 0, gid: 0, nlink: 2 });
  t.same(h.sm.applied(), { index: 0, term: 0 });
});

t.test('mkdir creates a directory, bumps the parent nlink and sets all times to now', async (t) => {
  const h = await Harness.create();
  await h.must('setattr', { ino: ROOT_INO, mode: 0o777, cred: ROOT });
  h.nowMs += 1500;
  const { parentAttr, ...d } = await h.mkdir(ROOT_INO, 'a', ALICE, 0o750);
  t.match(d, { type: 'dir', mode: 0o40750, uid: 1000, gid: 1000, nlink: 2, atime: h.now(), mtime: h.now(), ctime: h.now() });
  const root = await h.attr(ROOT_INO);
  t.equal(root.nlink, 3);
  t.same(root.mtime, h.now());
  t.same(parentAttr, root, 'the reply carries the parent as the entry left it');
  t.same(await h.q('lookup', { parent: ROOT_INO, name: 'a' }), { ok: true, value: d });
  t.same(h.sm.applied(), { index: 2, term: 1 });
});

t.test('mknod makes regular files, fifos, devices and sockets from the type bits in mode', async (t) => {
  const h = await Harness.create();
  t.equal((await h.must('mknod', { parent: 1, name: 'f', mode: 0o644, rdev: 0, cred: ROOT })).type, 'file');
  t.equal((await h.must('mknod', { parent: 1, name: 'p', mode: S_IFIFO | 0o600, rdev: 0, cred: ROOT })).type, 'fifo');
  t.match(await h.must('mknod', { parent: 1, name: 'c', mode: S_IFCHR | 0o600, rdev: 0x0501, cred: ROOT }), { type: 'chr', rdev: 0x0501 });
  t.equal((await h.must('mknod', { parent: 1, name: 's', mode: S_IFSOCK | 0o600, rdev: 0, cred: ROOT })).type, 'sock');
  t.equal(await h.errno('mknod', { parent: 1, name: 'd', mode: 0o40755, rdev: 0, cred: ROOT }), 'EPERM');
  t.equal(await h.errno('mknod', { parent: 1, name: 'x', mode: 0o170644, rdev: 0, cred: ROOT }), 'EINVAL');
});

t.test('returns EEXIST when the name is taken', async (t) => {
  const h = await Harness.create();
  await h.create(1, 'f');
  t.equal(await h.errno('mkdir', { parent: 1, name: 'f', mode: 0o755, cred: ROOT }), 'EEXIST');
  t.equal(await h.errno('symlink', { parent: 1, name: 'f', target: 'x', cred: ROOT }), 'EEXIST');
});

t.test('returns ENOENT if the parent is missing and ENOTDIR if it is not a directory', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  t.equal(await h.errno('mkdir', { parent: 99, name: 'a', mode: 0o755, cred: ROOT }), 'ENOENT');
  t.equal(await h.errno('mkdir', { parent: f.ino, name: 'a', mode: 0o755, cred: ROOT }), 'ENOTDIR');
  t.same(await h.q('lookup', { parent: f.ino, name: 'a' }), { ok: false, errno: 'ENOTDIR' });
});

t.test('rejects bad names with EINVAL and long ones with ENAMETOOLONG', async (t) => {
  const h = await Harness.create();
  for (const name of ['', '.', '..', 'a/b', 'a\0b']) t.equal(await h.errno('mkdir', { parent: 1, name, mode: 0o755, cred: ROOT }), 'EINVAL', JSON.stringify(name));
  t.equal(await h.errno('mkdir', { parent: 1, name: 'x'.repeat(256), mode: 0o755, cred: ROOT }), 'ENAMETOOLONG');
  t.equal(await h.errno('mkdir', { parent: 1, name: 'é'.repeat(128), mode: 0o755, cred: ROOT }), 'ENAMETOOLONG');
  await h.mkdir(1, 'x'.repeat(255));
});

t.test('returns EACCES when the caller cannot write and search the parent', async (t) => {
  const h = await Harness.create();
  const pub = await h.mkdir(1, 'pub', ROOT, 0o777);
  t.equal(await h.errno('mkdir', { parent: 1, name: 'x', mode: 0o755, cred: ALICE }), 'EACCES');
  const d = await h.mkdir(pub.ino, 'd', ALICE, 0o755);
  t.equal(await h.errno('mknod', { parent: d.ino, name: 'f', mode: 0o644, rdev: 0, cred: BOB }), 'EACCES');
  await h.create(d.ino, 'f', ALICE);
  t.equal(await h.errno('unlink', { parent: d.ino, name: 'f', cred: BOB }), 'EACCES');
});

t.test('readdir lists entries in name order with an after cursor, a limit and a more flag', async (t) => {
  const h = await Harness.create();
  for (const n of ['c', 'a', 'e', 'b', 'd']) await h.create(1, n);
  t.same(await h.names(1), ['a', 'b', 'c', 'd', 'e']);
  const p1 = await h.q('readdir', { ino: 1, limit: 2 });
  t.same(p1.ok && p1.value.entries.map((e) => e.name), ['a', 'b']);
  t.equal(p1.ok && p1.value.more, true);
  const p2 = await h.q('readdir', { ino: 1, after: 'b', limit: 3 });
  t.same(p2.ok && p2.value, { entries: p2.ok && p2.value.entries, more: false });
  t.same(p2.ok && p2.value.entries.map((e) => e.name), ['c', 'd', 'e']);
  t.same(await h.q('readdir', { ino: 2 }), { ok: false, errno: 'ENOTDIR' });
});

t.test('readdir of directory 1 does not show entries of directory 16 or 256', async (t) => {
  const h = await Harness.create();
  let last = 1;
  for (let i = 0; i < 20; i++) last = (await h.mkdir(1, `d${i}`)).ino;
  await h.create(last, 'inner');
  t.equal((await h.names(1)).length, 20);
  t.same(await h.names(last), ['inner']);
});

t.test('symlink stores the target and readlink returns it', async (t) => {
  const h = await Harness.create();
  const s = await h.must('symlink', { parent: 1, name: 'l', target: '../x/y', cred: ROOT });
  t.match(s, { type: 'symlink', mode: 0o120777, size: 6 });
  t.same(await h.q('readlink', { ino: s.ino }), { ok: true, value: { target: '../x/y' } });
  t.same(await h.q('readlink', { ino: 1 }), { ok: false, errno: 'EINVAL' });
});

t.test('link adds a name and bumps nlink; EPERM on directories', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  const d = await h.mkdir(1, 'd');
  h.nowMs += 1000;
  const l = await h.must('link', { ino: f.ino, parent: d.ino, name: 'g', cred: ROOT });
  t.match(l, { ino: f.ino, nlink: 2, ctime: h.now() });
  t.equal(await h.errno('link', { ino: d.ino, parent: 1, name: 'd2', cred: ROOT }), 'EPERM');
  t.equal(await h.errno('link', { ino: f.ino, parent: 1, name: 'f', cred: ROOT }), 'EEXIST');
});

t.test('link returns EMLINK past LINK_COUNT_MAX', { timeout: 120_000 }, async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  // Fast-forward the count rather than making 65000 links: set nlink through a real link chain is slow.
  const rec = (await (h.sm as unknown as { kv: { get(k: Buffer): Promise<Buffer> } }).kv.get(Buffer.from(`i/${f.ino.toString(16).padStart(16, '0')}`)));
  const { pack, unpack } = await import('../../../storagenode/meta/records.js');
  const v = unpack<Record<string, unknown>>(rec);
  v.nlink = LINK_COUNT_MAX;
  await (h.sm as unknown as { kv: { write(o: unknown[]): Promise<void> } }).kv.write([{ type: 'put', key: Buffer.from(`i/${f.ino.toString(16).padStart(16, '0')}`), value: pack(v) }]);
  t.equal(await h.errno('link', { ino: f.ino, parent: 1, name: 'g', cred: ROOT }), 'EMLINK');
});

t.test('unlink removes the name, drops nlink and deletes the inode at zero', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  await h.must('link', { ino: f.ino, parent: 1, name: 'g', cred: ROOT });
  t.same(await h.must('unlink', { parent: 1, name: 'f', cred: ROOT }), { ino: f.ino, nlink: 1, parentAttr: await h.attr(1) });
  t.same(await h.must('unlink', { parent: 1, name: 'g', cred: ROOT }), { ino: f.ino, nlink: 0, parentAttr: await h.attr(1) });
  t.same(await h.q('getattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' });
  t.equal(await h.errno('unlink', { parent: 1, name: 'g', cred: ROOT }), 'ENOENT');
  t.same(h.sm.usage(), { inodes: 1, bytes: 0 });
});

t.test('unlink of a directory returns EISDIR and rmdir of a file ENOTDIR', async (t) => {
  const h = await Harness.create();
  await h.mkdir(1, 'd');
  await h.create(1, 'f');
  t.equal(await h.errno('unlink', { parent: 1, name: 'd', cred: ROOT }), 'EISDIR');
  t.equal(await h.errno('rmdir', { parent: 1, name: 'f', cred: ROOT }), 'ENOTDIR');
});

t.test('returns ENOTEMPTY when removing a directory with entries', async (t) => {
  const h = await Harness.create();
  const d = await h.mkdir(1, 'd');
  await h.create(d.ino, 'f');
  t.equal(await h.errno('rmdir', { parent: 1, name: 'd', cred: ROOT }), 'ENOTEMPTY');
  await h.must('unlink', { parent: d.ino, name: 'f', cred: ROOT });
  await h.must('rmdir', { parent: 1, name: 'd', cred: ROOT });
  t.equal((await h.attr(1)).nlink, 2);
  t.equal(await h.errno('rmdir', { parent: 1, name: '.', cred: ROOT }), 'EINVAL');
});

t.test('in a sticky directory only the owners of file or directory or root may unlink', async (t) => {
  const h = await Harness.create();
  const d = await h.mkdir(1, 'tmp', ROOT, 0o1777);
  await h.create(d.ino, 'a', ALICE);
  await h.create(d.ino, 'b', ALICE);
  t.equal(await h.errno('unlink', { parent: d.ino, name: 'a', cred: BOB }), 'EPERM');
  t.equal(await h.errno('unlink', { parent: d.ino, name: 'a', cred: ALICE }), 'OK');
  t.equal(await h.errno('unlink', { parent: d.ino, name: 'b', cred: ROOT }), 'OK');
});

t.test('new entries in a setgid directory take its group; subdirectories inherit setgid', async (t) => {
  const h = await Harness.create();
  const d = await h.must('mkdir', { parent: 1, name: 'g', mode: 0o2777, cred: { uid: 0, gid: 50, groups: [] } });
  t.equal(d.mode & S_ISGID, S_ISGID);
  const f = await h.create(d.ino, 'f', ALICE);
  t.equal(f.gid, 50);
  const sub = await h.mkdir(d.ino, 's', ALICE);
  t.match(sub, { gid: 50, mode: 0o40000 | S_ISGID | 0o755 });
});

t.test('a failed op changes nothing but the applied index', async (t) => {
  const h = await Harness.create();
  const before = h.sm.usage();
  t.equal(await h.errno('mkdir', { parent: 77, name: 'a', mode: 0o755, cred: ROOT }), 'ENOENT');
  t.same(h.sm.usage(), before);
  t.same(h.sm.applied(), { index: 1, term: 1 });
});

t.test('undecodable or invalid commands return EINVAL and still advance applied', async (t) => {
  const h = await Harness.create();
  t.same(await h.sm.apply({ index: 1, term: 1, data: Buffer.from([0xc1, 0xff]) }), { ok: false, errno: 'EINVAL' });
  const { pack } = await import('../../../storagenode/meta/records.js');
  t.same(await h.sm.apply({ index: 2, term: 1, data: pack({ op: 'mkdir', args: { parent: 'x' }, now: [1, 0] }) }), { ok: false, errno: 'EINVAL' });
  t.same(await h.sm.apply({ index: 3, term: 1, data: pack({ op: 'lookup', args: { parent: 1, name: 'a' }, now: [1, 0] }) }), { ok: false, errno: 'EINVAL' });
  t.same(await h.sm.apply({ index: 4, term: 1, data: pack({ op: 'mkdir', args: { parent: 1, name: 'a', mode: 0o755, cred: ROOT }, now: 'soon' }) }), { ok: false, errno: 'EINVAL' });
  t.equal(await h.sm.apply({ index: 5, term: 2, data: new Uint8Array() }), undefined);
  t.same(h.sm.applied(), { index: 5, term: 2 });
  t.same(await h.names(1), []);
});
