import t from 'tap';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../../../shared/protocol/ops.js';
import { ALICE, BOB, Harness, ROOT } from './harness.js';

const mv = (h: Harness, parent: number, name: string, newParent: number, newName: string, flags = 0, cred = ROOT) =>
  h.errno('rename', { parent, name, newParent, newName, flags, cred });

t.test('renames a file within a directory and updates ctime of the moved inode', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'a');
  h.nowMs += 1000;
  t.equal(await mv(h, 1, 'a', 1, 'b'), 'OK');
  t.same(await h.names(1), ['b']);
  t.same((await h.attr(f.ino)).ctime, h.now());
  t.same((await h.attr(1)).mtime, h.now());
});

t.test('replaces an existing file and deletes it when that was its last link', async (t) => {
  const h = await Harness.create();
  await h.create(1, 'a');
  const b = await h.create(1, 'b');
  t.equal(await mv(h, 1, 'a', 1, 'b'), 'OK');
  t.same(await h.names(1), ['b']);
  t.same(await h.q('getattr', { ino: b.ino }), { ok: false, errno: 'ENOENT' });
});

t.test('moving a directory updates .. and the nlink of both parents', async (t) => {
  const h = await Harness.create();
  const x = await h.mkdir(1, 'x');
  const y = await h.mkdir(1, 'y');
  const d = await h.mkdir(x.ino, 'd');
  t.equal(await mv(h, x.ino, 'd', y.ino, 'd'), 'OK');
  t.equal((await h.attr(x.ino)).nlink, 2);
  t.equal((await h.attr(y.ino)).nlink, 3);
  // `..` now points at y: moving y into d must be refused as a loop.
  t.equal(await mv(h, 1, 'y', d.ino, 'y'), 'EINVAL');
});

t.test('replacing an empty directory with a directory keeps nlink right', async (t) => {
  const h = await Harness.create();
  const x = await h.mkdir(1, 'x');
  const y = await h.mkdir(1, 'y');
  await h.mkdir(x.ino, 'd');
  const e = await h.mkdir(y.ino, 'e');
  t.equal(await mv(h, x.ino, 'd', y.ino, 'e'), 'OK');
  t.equal((await h.attr(x.ino)).nlink, 2);
  t.equal((await h.attr(y.ino)).nlink, 3);
  t.same(await h.q('getattr', { ino: e.ino }), { ok: false, errno: 'ENOENT' });
  t.equal((await h.attr(1)).nlink, 4);
});

t.test('returns EISDIR, ENOTDIR and ENOTEMPTY for mismatched or full targets', async (t) => {
  const h = await Harness.create();
  await h.create(1, 'f');
  const d = await h.mkdir(1, 'd');
  const full = await h.mkdir(1, 'full');
  await h.create(full.ino, 'x');
  t.equal(await mv(h, 1, 'f', 1, 'd'), 'EISDIR');
  t.equal(await mv(h, 1, 'd', 1, 'f'), 'ENOTDIR');
  t.equal(await mv(h, 1, 'd', 1, 'full'), 'ENOTEMPTY');
  t.equal(await mv(h, 1, 'missing', 1, 'z'), 'ENOENT');
  t.equal(await mv(h, 1, 'f', d.ino + 100, 'z'), 'ENOENT');
});

t.test('returns EINVAL when moving a directory into its own subtree', async (t) => {
  const h = await Harness.create();
  const a = await h.mkdir(1, 'a');
  const b = await h.mkdir(a.ino, 'b');
  const c = await h.mkdir(b.ino, 'c');
  t.equal(await mv(h, 1, 'a', c.ino, 'a'), 'EINVAL');
  t.equal(await mv(h, 1, 'a', a.ino, 'a2'), 'EINVAL');
});

t.test('two names of the same inode: rename is a no-op', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'a');
  await h.must('link', { ino: f.ino, parent: 1, name: 'b', cred: ROOT });
  t.equal(await mv(h, 1, 'a', 1, 'b'), 'OK');
  t.same(await h.names(1), ['a', 'b']);
  t.equal((await h.attr(f.ino)).nlink, 2);
});

t.test('RENAME_NOREPLACE refuses an existing target with EEXIST', async (t) => {
  const h = await Harness.create();
  await h.create(1, 'a');
  await h.create(1, 'b');
  t.equal(await mv(h, 1, 'a', 1, 'b', RENAME_NOREPLACE), 'EEXIST');
  t.equal(await mv(h, 1, 'a', 1, 'c', RENAME_NOREPLACE), 'OK');
  t.equal(await mv(h, 1, 'c', 1, 'd', RENAME_NOREPLACE | RENAME_EXCHANGE), 'EINVAL');
  t.equal(await mv(h, 1, 'c', 1, 'd', 4), 'EINVAL');
});

t.test('RENAME_EXCHANGE swaps a file and a directory across parents and fixes nlink', async (t) => {
  const h = await Harness.create();
  const x = await h.mkdir(1, 'x');
  const y = await h.mkdir(1, 'y');
  const f = await h.create(x.ino, 'f');
  const d = await h.mkdir(y.ino, 'd');
  t.equal(await mv(h, x.ino, 'f', y.ino, 'd', RENAME_EXCHANGE), 'OK');
  t.same((await h.q('lookup', { parent: x.ino, name: 'f' })).ok && (await h.attr(d.ino)).ino, d.ino);
  const xf = await h.q('lookup', { parent: x.ino, name: 'f' });
  const yd = await h.q('lookup', { parent: y.ino, name: 'd' });
  t.equal(xf.ok && xf.value.ino, d.ino);
  t.equal(yd.ok && yd.value.ino, f.ino);
  t.equal((await h.attr(x.ino)).nlink, 3);
  t.equal((await h.attr(y.ino)).nlink, 2);
  t.equal(await mv(h, x.ino, 'f', y.ino, 'nope', RENAME_EXCHANGE), 'ENOENT');
});

t.test('RENAME_EXCHANGE refuses to swap a directory with its own ancestor', async (t) => {
  const h = await Harness.create();
  const a = await h.mkdir(1, 'a');
  await h.mkdir(a.ino, 'b');
  t.equal(await mv(h, a.ino, 'b', 1, 'a', RENAME_EXCHANGE), 'EINVAL');
});

t.test('in a sticky directory others may not rename away or over a file (EPERM)', async (t) => {
  const h = await Harness.create();
  const tmp = await h.mkdir(1, 'tmp', ROOT, 0o1777);
  await h.create(tmp.ino, 'a', ALICE);
  await h.create(tmp.ino, 'b', BOB);
  t.equal(await mv(h, tmp.ino, 'a', tmp.ino, 'c', 0, BOB), 'EPERM');
  t.equal(await mv(h, tmp.ino, 'b', tmp.ino, 'a', 0, BOB), 'EPERM');
  t.equal(await mv(h, tmp.ino, 'b', tmp.ino, 'c', 0, BOB), 'OK');
});

t.test('returns EACCES without write permission on either parent', async (t) => {
  const h = await Harness.create();
  const pub = await h.mkdir(1, 'pub', ROOT, 0o777);
  const mine = await h.mkdir(pub.ino, 'mine', ALICE, 0o755);
  await h.create(mine.ino, 'f', ALICE);
  t.equal(await mv(h, mine.ino, 'f', pub.ino, 'f', 0, BOB), 'EACCES');
  t.equal(await mv(h, mine.ino, 'f', pub.ino, 'f', 0, ALICE), 'OK');
  t.equal(await mv(h, pub.ino, 'f', mine.ino, 'g', 0, BOB), 'EACCES');
});
