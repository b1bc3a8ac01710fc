import t from 'tap';
import { makeBlockId } from '../../../shared/block-id.js';
import { BLOCK_COMMIT_AGE_MS_MAX, CHUNK_BYTES, COMMIT_SLICES_MAX, SLICES_PER_CHUNK_MAX } from '../../../shared/limits.js';
import { S_ISGID, S_ISUID } from '../../../shared/types.js';
import { dropHidden } from '../../../storagenode/meta/ops/data.js';
import { ALICE, BOB, Harness, ROOT } from './harness.js';

async function chunk(h: Harness, ino: number, c = 0) {
  const r = await h.q('readChunk', { ino, chunk: c });
  if (!r.ok) throw new Error(r.errno);
  return r.value;
}

t.test('commitWrite appends slices in order, grows size and bumps version, mtime and ctime', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  const b1 = h.block(), b2 = h.block();
  h.nowMs += 1000;
  const a = await h.must('commitWrite', { ino: f.ino, slices: [
    { chunk: 0, pos: 0, len: 100, block: b1, off: 0 }, { chunk: 0, pos: 50, len: 10, block: b2, off: 5 },
  ], cred: ROOT });
  t.match(a, { size: 100, version: 1, mtime: h.now(), ctime: h.now() });
  t.same(await chunk(h, f.ino), { slices: [{ pos: 0, len: 100, block: b1, off: 0 }, { pos: 50, len: 10, block: b2, off: 5 }], size: 100, version: 1 });
  t.same(await h.sm.blocksReferenced([b1, b2, h.block()]), [true, true, false]);
  t.same(h.sm.usage(), { inodes: 2, bytes: 100 });
});

t.test('a write in a later chunk sets the size to its end and leaves a hole', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  const a = await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 2, pos: 10, len: 5, block: h.block(), off: 0 }], cred: ROOT });
  t.equal(a.size, 2 * CHUNK_BYTES + 15);
  t.same((await chunk(h, f.ino, 1)).slices, []);
  t.equal((await chunk(h, f.ino, 2)).slices.length, 1);
});

t.test('a write by a non-root caller clears setuid and setgid', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f', ROOT, 0o6777);
  const a = await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 1, block: h.block(), off: 0 }], cred: ALICE });
  t.equal(a.mode & (S_ISUID | S_ISGID), 0);
});

t.test('commitWrite with times applies them after the data, in the same entry', async (t) => {
  const h = await Harness.create();
  const pub = await h.mkdir(1, 'pub', ROOT, 0o777);
  const f = await h.create(pub.ino, 'f', ALICE, 0o666);
  const b = h.block();
  h.nowMs += 1000;
  const a = await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 100, block: b, off: 0 }], cred: ALICE,
    times: { mtime: [5, 6], atime: [7, 8], cred: ALICE } });
  t.match(a, { size: 100, version: 1, mtime: [5, 6], atime: [7, 8], ctime: h.now() });
  t.same(await h.attr(f.ino), a, 'what a reader sees');
  t.same((await chunk(h, f.ino)).slices, [{ pos: 0, len: 100, block: b, off: 0 }]);
  // UTIME_OMIT keeps a time; 'now' is the entry's time.
  h.nowMs += 1000;
  t.match(await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 1, block: h.block(), off: 0 }], cred: ALICE,
    times: { atime: 'now', cred: ALICE } }), { size: 100, version: 2, mtime: h.now(), atime: h.now() });
  // The times are checked against their own cred: BOB writes, the owner sets the times.
  t.match(await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 1, block: h.block(), off: 0 }], cred: BOB,
    times: { mtime: [9, 0], cred: ALICE } }), { version: 3, mtime: [9, 0] });
});

type CommitArgs = Parameters<typeof Harness.prototype.run<'commitWrite'>>[1];
/** ALICE's file (0666) in a directory everyone may write, and a 100-byte commitWrite of it by `cred` with `extra`. */
async function refusable(h: Harness) {
  const pub = await h.mkdir(1, 'pub', ROOT, 0o777);
  const f = await h.create(pub.ino, 'f', ALICE, 0o666);
  const b = h.block();
  h.nowMs += 1000;
  const commit = (extra: Partial<CommitArgs>, cred = BOB) =>
    h.errno('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 100, block: b, off: 0 }], cred, ...extra });
  return { f, b, before: await h.attr(f.ino), commit };
}

t.test('commitWrite whose times are refused fails whole: no data, size, version or time changes', async (t) => {
  const h = await Harness.create();
  const { f, b, before, commit } = await refusable(h);
  const write = (times: CommitArgs['times'], cred = BOB) => commit({ times }, cred);
  t.equal(await write({ mtime: [5, 6], cred: BOB }), 'EPERM', 'explicit times need the owner');
  t.equal(await write({ mtime: [5, 6], atime: 'now', cred: BOB }), 'EPERM', 'one explicit time is enough to need the owner');
  const carol = { uid: 1002, gid: 1002, groups: [] };
  await h.must('setattr', { ino: f.ino, mode: 0o644, cred: ALICE });
  const chmodded = await h.attr(f.ino);
  t.equal(await write({ mtime: 'now', cred: carol }), 'EACCES', "'now' needs write permission or the owner");
  t.same(await h.attr(f.ino), chmodded, 'attributes as before');
  t.same((await chunk(h, f.ino)).slices, [], 'no slices');
  t.same(await h.sm.blocksReferenced([b]), [false], 'no block reference');
  t.same(h.sm.usage(), { inodes: 3, bytes: 0 }, 'no bytes counted');
  t.equal(chmodded.size, before.size);
  t.equal(await write({ mtime: 'now', cred: ALICE }), 'OK', 'the same commit passes with the owner');
  t.equal(await h.errno('commitWrite', { ino: f.ino, slices: [], cred: ROOT, times: { mtime: [1, 2e9] as never, cred: ROOT } }), 'EINVAL',
    'times are validated like setattr\'s');
});

t.test('commitWrite attrs: chmod, chown and utimens after the data, in order, each on its own cred', async (t) => {
  const h = await Harness.create();
  const pub = await h.mkdir(1, 'pub', ROOT, 0o777);
  const f = await h.create(pub.ino, 'f', ALICE, 0o755);
  const b = h.block();
  h.nowMs += 1000;
  const a = await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 100, block: b, off: 0 }], cred: ALICE, attrs: [
    { cred: ALICE, mtime: [5, 6], atime: [7, 8] },
    { cred: ALICE, mode: 0o4755 }, // after the data: this unprivileged write does not take it away
    { cred: ROOT, uid: 1234, gid: 5678 }, // root's chown keeps setuid...
    { cred: ROOT, killPriv: true }, // ...unless asked to drop it, as the client's chown does
    { cred: ROOT, mode: 0o640 },
  ] });
  t.match(a, { size: 100, version: 1, mtime: [5, 6], atime: [7, 8], ctime: h.now(), uid: 1234, gid: 5678, mode: 0o100640 });
  t.same(await h.attr(f.ino), a, 'what a reader sees');
  const g = await h.create(pub.ino, 'g', ALICE, 0o755);
  const b2 = await h.must('commitWrite', { ino: g.ino, slices: [{ chunk: 0, pos: 0, len: 1, block: h.block(), off: 0 }], cred: ALICE, attrs: [{ cred: ALICE, mode: 0o4755 }] });
  t.equal(b2.mode & S_ISUID, S_ISUID, 'setuid set after an unprivileged write stays');
});

t.test('commitWrite whose attrs are refused fails whole', async (t) => {
  const h = await Harness.create();
  const { f, b, before, commit } = await refusable(h);
  const write = (attrs: CommitArgs['attrs']) => commit({ attrs }, ALICE);
  t.equal(await write([{ cred: ALICE, mode: 0o600 }, { cred: BOB, mode: 0o777 }]), 'EPERM', "the second change is not BOB's to make");
  t.equal(await write([{ cred: ALICE, uid: BOB.uid }]), 'EPERM', 'only root gives a file away');
  t.same(await h.attr(f.ino), before, 'attributes as before, the first chmod included');
  t.same((await chunk(h, f.ino)).slices, [], 'no slices');
  t.same(await h.sm.blocksReferenced([b]), [false], 'no block reference');
  t.equal(await h.errno('commitWrite', { ino: f.ino, slices: [], cred: ROOT, attrs: Array.from({ length: 17 }, () => ({ cred: ROOT, mode: 0o600 })) }), 'EINVAL',
    'at most ATTR_CHANGES_MAX');
});

t.test('refuses blocks older than BLOCK_COMMIT_AGE_MS_MAX and slices past the chunk with EINVAL', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  const old = makeBlockId(h.nowMs - BLOCK_COMMIT_AGE_MS_MAX - 1, 'ab'.repeat(8));
  t.equal(await h.errno('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 1, block: old, off: 0 }], cred: ROOT }), 'EINVAL');
  t.equal(await h.errno('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: CHUNK_BYTES - 1, len: 2, block: h.block(), off: 0 }], cred: ROOT }), 'EINVAL');
  t.equal(await h.errno('commitWrite', { ino: 1, slices: [], cred: ROOT }), 'EISDIR');
  t.same(await h.q('readChunk', { ino: 1, chunk: 0 }), { ok: false, errno: 'EISDIR' });
});

t.test('past SLICES_PER_CHUNK_MAX hidden slices are dropped and their blocks unreferenced', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  const first = h.block();
  await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 10, block: first, off: 0 }], cred: ROOT });
  const many = Array.from({ length: SLICES_PER_CHUNK_MAX }, () => ({ chunk: 0, pos: 0, len: 10, block: h.block(), off: 0 }));
  for (let i = 0; i < many.length; i += COMMIT_SLICES_MAX) await h.must('commitWrite', { ino: f.ino, slices: many.slice(i, i + COMMIT_SLICES_MAX), cred: ROOT });
  const c = await chunk(h, f.ino);
  t.equal(c.slices.length, 1);
  t.equal(c.slices[0]!.block, many.at(-1)!.block);
  t.same(await h.sm.blocksReferenced([first, many[0]!.block]), [false, false]);
});

t.test('returns EFBIG when a chunk holds too many visible slices', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  const disjoint = (n: number, from: number) => Array.from({ length: n }, (_, i) => ({ chunk: 0, pos: (from + i) * 10, len: 10, block: h.block(), off: 0 }));
  for (let i = 0; i < SLICES_PER_CHUNK_MAX; i += COMMIT_SLICES_MAX) await h.must('commitWrite', { ino: f.ino, slices: disjoint(COMMIT_SLICES_MAX, i), cred: ROOT });
  t.equal(await h.errno('commitWrite', { ino: f.ino, slices: disjoint(1, SLICES_PER_CHUNK_MAX), cred: ROOT }), 'EFBIG');
  t.equal((await chunk(h, f.ino)).slices.length, SLICES_PER_CHUNK_MAX);
});

t.test('truncate shrink trims slices at the cut, drops slices past it and their references', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  const b = [h.block(), h.block(), h.block()];
  await h.must('commitWrite', { ino: f.ino, slices: [
    { chunk: 0, pos: 0, len: 100, block: b[0]!, off: 0 }, { chunk: 0, pos: 200, len: 100, block: b[1]!, off: 0 },
    { chunk: 1, pos: 0, len: 100, block: b[2]!, off: 0 },
  ], cred: ROOT });
  await h.must('setattr', { ino: f.ino, size: 50, cred: ROOT });
  t.same((await chunk(h, f.ino)).slices, [{ pos: 0, len: 50, block: b[0], off: 0 }]);
  t.same((await chunk(h, f.ino, 1)).slices, []);
  t.same(await h.sm.blocksReferenced(b), [true, false, false]);
  const grown = await h.must('setattr', { ino: f.ino, size: 1000, cred: ROOT });
  t.equal(grown.size, 1000);
  t.same((await chunk(h, f.ino)).slices, [{ pos: 0, len: 50, block: b[0], off: 0 }], 'growing reads zeros past the old end');
  await h.must('setattr', { ino: f.ino, size: 0, cred: ROOT });
  t.same(await h.sm.blocksReferenced(b), [false, false, false]);
  t.same(h.sm.usage(), { inodes: 2, bytes: 0 });
});

t.test('deleting a file drops the references of all its blocks', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  const b = h.block();
  await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 1, block: b, off: 0 }, { chunk: 3, pos: 0, len: 1, block: b, off: 0 }], cred: ROOT });
  await h.must('unlink', { parent: 1, name: 'f', cred: ROOT });
  t.same(await h.sm.blocksReferenced([b]), [false]);
  t.same(h.sm.usage(), { inodes: 1, bytes: 0 });
});

t.test('dropHidden keeps slices that still show bytes and drops fully covered ones', async (t) => {
  const s = (pos: number, len: number, block: string) => ({ pos, len, block, off: 0 });
  const { kept, dropped } = dropHidden([s(0, 10, 'a'), s(5, 10, 'b'), s(0, 5, 'c'), s(10, 5, 'd'), s(20, 1, 'e')]);
  t.same(kept.map((x) => x.block), ['b', 'c', 'd', 'e']);
  t.same(dropped.map((x) => x.block), ['a']);
});
