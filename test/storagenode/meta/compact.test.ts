import t from 'tap';
import { makeBlockId } from '../../../shared/block-id.js';
import { prefixOf } from '../../../shared/chunk-prefix.js';
import { BLOCK_COMMIT_AGE_MS_MAX, CHUNK_BYTES, COMMIT_SLICES_MAX, RAFT_ENTRY_BYTES_MAX, SLICES_PER_CHUNK_MAX } from '../../../shared/limits.js';
import { encodeCommand } from '../../../storagenode/meta/command.js';
import { K } from '../../../storagenode/meta/keys.js';
import { coveredBytes } from '../../../storagenode/meta/ops/alloc.js';
import { pack, unpack, type InodeRec } from '../../../storagenode/meta/records.js';
import { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';
import { CountingKv, Harness, ROOT } from './harness.js';

async function slicesOf(h: Harness, ino: number, chunk = 0) {
  const r = await h.q('readChunk', { ino, chunk });
  if (!r.ok) throw new Error(r.errno);
  return r.value.slices;
}

/** A file with three overlapping slices in chunk 0, written an hour of test time ago. */
async function fileWithSlices(h: Harness) {
  const f = await h.create(1, 'f');
  const b = [h.block(), h.block(), h.block()];
  await h.must('commitWrite', { ino: f.ino, slices: [
    { chunk: 0, pos: 0, len: 100, block: b[0]!, off: 0 }, { chunk: 0, pos: 50, len: 100, block: b[1]!, off: 0 },
    { chunk: 0, pos: 300, len: 10, block: b[2]!, off: 0 },
  ], cred: ROOT });
  h.nowMs += 5000;
  return { f, b, attr: await h.attr(f.ino), old: await slicesOf(h, f.ino) };
}

t.test('compactChunk: replaces the slices read, keeps later ones, moves refs; size and times stay, version moves', async (t) => {
  const h = await Harness.create();
  const { f, b, attr, old } = await fileWithSlices(h);
  const later = { chunk: 0, pos: 60, len: 5, block: h.block(), off: 0 };
  await h.must('commitWrite', { ino: f.ino, slices: [later], cred: ROOT });
  const before = await h.attr(f.ino);
  const n1 = h.block(), n2 = h.block();
  const a = await h.must('compactChunk', { ino: f.ino, chunk: 0, ...prefixOf(old), slices: [{ pos: 0, len: 150, block: n1, off: 0 }, { pos: 300, len: 10, block: n2, off: 0 }] });
  t.equal(a.size, attr.size);
  t.same([a.mtime, a.ctime], [before.mtime, before.ctime], 'not a write: mtime and ctime stay');
  t.equal(a.version, before.version + 1);
  t.same(await slicesOf(h, f.ino), [
    { pos: 0, len: 150, block: n1, off: 0 }, { pos: 300, len: 10, block: n2, off: 0 }, { pos: 60, len: 5, block: later.block, off: 0 },
  ]);
  t.same(await h.sm.blocksReferenced([...b, n1, n2, later.block]), [false, false, false, true, true, true]);
  t.equal(a.allocBytes, 160);
  t.same(h.sm.usage().bytes, 310, 'logical bytes unchanged');
});

t.test('compactChunk: EAGAIN and no change when the slices read are no longer the chunk\'s first ones', async (t) => {
  const h = await Harness.create();
  const { f, b, old } = await fileWithSlices(h);
  await h.must('setattr', { ino: f.ino, size: 120, cred: ROOT }); // trims the second slice, drops the third
  const n = h.block();
  t.equal(await h.errno('compactChunk', { ino: f.ino, chunk: 0, ...prefixOf(old), slices: [{ pos: 0, len: 150, block: n, off: 0 }] }), 'EAGAIN');
  t.equal(await h.errno('compactChunk', { ino: f.ino, chunk: 0, ...prefixOf([old[1]!]), slices: [{ pos: 50, len: 70, block: n, off: 0 }] }), 'EAGAIN', 'not a prefix');
  t.same(await h.sm.blocksReferenced([b[0]!, b[1]!, n]), [true, true, false]);
  t.equal((await slicesOf(h, f.ino)).length, 2);
});

t.test('compactChunk: EAGAIN for the right count with another digest, or a count past the chunk', async (t) => {
  const h = await Harness.create();
  const { f, old } = await fileWithSlices(h);
  const n = h.block();
  const { oldDigest } = prefixOf([old[0]!, old[2]!, old[1]!]);
  t.equal(await h.errno('compactChunk', { ino: f.ino, chunk: 0, oldCount: 3, oldDigest, slices: [{ pos: 0, len: 150, block: n, off: 0 }] }), 'EAGAIN');
  t.equal(await h.errno('compactChunk', { ino: f.ino, chunk: 0, oldCount: 4, oldDigest: prefixOf(old).oldDigest, slices: [{ pos: 0, len: 150, block: n, off: 0 }] }), 'EAGAIN');
  t.same(await slicesOf(h, f.ino), old, 'unchanged');
});

t.test('compactChunk: a chunk of SLICES_PER_CHUNK_MAX slices is replaced by one Raft entry of constant size', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'big');
  const step = Math.floor(CHUNK_BYTES / SLICES_PER_CHUNK_MAX);
  for (let i = 0; i < SLICES_PER_CHUNK_MAX; i += COMMIT_SLICES_MAX) {
    const slices = Array.from({ length: COMMIT_SLICES_MAX }, (_, j) => ({ chunk: 0, pos: (i + j) * step, len: 4096, block: h.block(), off: 0 }));
    await h.must('commitWrite', { ino: f.ino, slices, cred: ROOT });
  }
  const old = await slicesOf(h, f.ino);
  t.equal(old.length, SLICES_PER_CHUNK_MAX);
  const end = (SLICES_PER_CHUNK_MAX - 1) * step + 4096, piece = 4 * 1024 * 1024;
  const fresh = Array.from({ length: Math.ceil(end / piece) }, (_, i) => ({ pos: i * piece, len: Math.min(piece, end - i * piece), block: h.block(), off: 0 }));
  const args = { ino: f.ino, chunk: 0, ...prefixOf(old), slices: fresh };
  const entry = encodeCommand({ op: 'compactChunk', args, now: [0, 0] });
  t.ok(entry.byteLength < 2048, `the entry is ${entry.byteLength} bytes (listing the old slices: ~${70 * SLICES_PER_CHUNK_MAX}; Raft takes ${RAFT_ENTRY_BYTES_MAX})`);
  await h.must('compactChunk', args);
  t.same(await slicesOf(h, f.ino), fresh);
  t.same(await h.sm.blocksReferenced([old[0]!.block, old.at(-1)!.block, fresh[0]!.block]), [false, false, true]);
});

t.test('compactChunk: EINVAL for new slices outside the replaced span, an empty old list or old blocks', async (t) => {
  const h = await Harness.create();
  const { f, old } = await fileWithSlices(h);
  t.equal(await h.errno('compactChunk', { ino: f.ino, chunk: 0, ...prefixOf(old), slices: [{ pos: 0, len: 311, block: h.block(), off: 0 }] }), 'EINVAL');
  t.equal(await h.errno('compactChunk', { ino: f.ino, chunk: 0, oldCount: 0, oldDigest: prefixOf([]).oldDigest, slices: [] }), 'EINVAL');
  const stale = makeBlockId(h.nowMs - BLOCK_COMMIT_AGE_MS_MAX - 1, 'cd'.repeat(8));
  t.equal(await h.errno('compactChunk', { ino: f.ino, chunk: 0, ...prefixOf(old), slices: [{ pos: 0, len: 10, block: stale, off: 0 }] }), 'EINVAL');
  t.equal(await h.errno('compactChunk', { ino: 1, chunk: 0, ...prefixOf(old), slices: [] }), 'EISDIR');
  t.equal(await h.errno('compactChunk', { ino: 999, chunk: 0, ...prefixOf(old), slices: [] }), 'ENOENT');
});

t.test('compactChunk: a retried request (same session and seq) gets its first reply', async (t) => {
  const h = await Harness.create();
  const session = await h.session();
  const { f, old } = await fileWithSlices(h);
  const args = { ino: f.ino, chunk: 0, ...prefixOf(old), slices: [{ pos: 0, len: 310, block: h.block(), off: 0 }], session, seq: 7 };
  const first = await h.must('compactChunk', args);
  t.same(await h.must('compactChunk', args), first);
  t.equal((await slicesOf(h, f.ino)).length, 1);
});

t.test('allocBytes: the union of slices, holes excluded; truncate trims it', async (t) => {
  const h = await Harness.create();
  const { f } = await fileWithSlices(h);
  t.equal((await h.attr(f.ino)).allocBytes, 160);
  const far = await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 80, pos: 0, len: 1, block: h.block(), off: 0 }], cred: ROOT });
  t.equal(far.size, 80 * CHUNK_BYTES + 1);
  t.equal(far.allocBytes, 161, 'one byte at 5 GiB allocates one byte');
  t.equal((await h.must('setattr', { ino: f.ino, size: 120, cred: ROOT })).allocBytes, 120);
  t.equal((await h.must('setattr', { ino: f.ino, size: 1 << 30, cred: ROOT })).allocBytes, 120, 'growing allocates nothing');
  const fresh = await h.create(1, 'g');
  t.equal(fresh.allocBytes, 0, 'never written: nothing allocated');
});

t.test('allocBytes: a new file starts at 0, so its first commit reads no chunks; a record without the field still gets it summed', async (t) => {
  const kv = new CountingKv();
  const h = new Harness(await MetaStateMachine.memory(kv));
  h.autoReap = false; // its check for due orphans is a scan of its own
  const f = await h.create(1, 'f');
  kv.ranges = 0;
  const w = await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 100, block: h.block(), off: 0 }], cred: ROOT });
  t.equal(w.allocBytes, 100);
  t.equal(kv.ranges, 0, 'no store scan');

  // A record written by a build before `alloc` existed: the next commit sums the chunks it has.
  const rec = unpack<InodeRec>((await kv.get(K.inode(f.ino)))!);
  delete rec.alloc;
  await kv.write([{ type: 'put', key: K.inode(f.ino), value: pack(rec) }]);
  const again = await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 1, pos: 0, len: 10, block: h.block(), off: 0 }], cred: ROOT });
  t.equal(again.allocBytes, 110, 'summed from the chunks, then grown');
});

t.test('coveredBytes counts overlapping ranges once', async (t) => {
  const s = (pos: number, len: number) => ({ pos, len, block: 'b', off: 0 });
  t.equal(coveredBytes([]), 0);
  t.equal(coveredBytes([s(0, 10), s(5, 10), s(20, 5), s(21, 1), s(0, 1)]), 20);
});
