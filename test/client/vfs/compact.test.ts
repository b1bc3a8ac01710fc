import t from 'tap';
import { randomBytes } from 'node:crypto';
import { makeBlockId } from '../../../shared/block-id.js';
import { silentLogger } from '../../../shared/log.js';
import { BLOCK_BYTES_MAX, CHUNK_BYTES, COMMIT_SLICES_MAX, SLICES_PER_CHUNK_MAX } from '../../../shared/limits.js';
import { ROOT_CRED } from '../../../shared/types.js';
import { COMPACTIONS_RUNNING_MAX, Compactor, planCompaction, readsOf } from '../../../client/vfs/compact.js';
import { FsError } from '../../../shared/errno.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { O_CREAT, O_RDWR } from '../../../client/vfs/perms.js';
import type { OpContext, VfsOptions } from '../../../client/vfs/types.js';
import { FakeCluster } from './fake-cluster.js';

const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
const s = (pos: number, len: number, block = 'b', off = 0) => ({ pos, len, block, off });
function must<T>(r: { ok: true; value: T } | { ok: false; errno: string }): T {
  if (!r.ok) throw new Error(`unexpected ${r.errno}`);
  return r.value;
}
async function setup() {
  const cluster = await FakeCluster.create();
  const o: VfsOptions = { cluster, clock: { nowMs: () => Date.now() }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: 1000 };
  return { cluster, vfs: new Vfs(o), o };
}
const until = async (f: () => Promise<boolean>, ms = 10_000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (await f()) return true;
  return false;
};

t.test('planCompaction: holes stay holes; overlapping slices become one extent; blocks ≤ BLOCK_BYTES_MAX', async (t) => {
  const plan = planCompaction([s(0, 100, 'a'), s(50, 100, 'b'), s(1000, 10, 'c')]);
  t.same(plan.map((p) => [p.pos, p.len]), [[0, 150], [1000, 10]]);
  t.same(plan[0]!.segs.map((g) => g.src?.block), ['a', 'b']);
  const big = planCompaction([s(0, BLOCK_BYTES_MAX, 'a'), s(BLOCK_BYTES_MAX, BLOCK_BYTES_MAX, 'b'), s(10, 2 * BLOCK_BYTES_MAX, 'c')]);
  t.same(big.map((p) => [p.pos, p.len]), [[0, BLOCK_BYTES_MAX], [BLOCK_BYTES_MAX, BLOCK_BYTES_MAX], [2 * BLOCK_BYTES_MAX, 10]]);
});

t.test('planCompaction: past the extent limit the smallest gaps are filled (as zeros), the big holes kept', async (t) => {
  const slices = [s(0, 1), s(10, 1), s(20, 1), s(1_000_000, 1), s(1_000_005, 1)];
  const plan = planCompaction(slices, 2);
  t.same(plan.map((p) => [p.pos, p.len]), [[0, 21], [1_000_000, 6]]);
  const spread = Array.from({ length: SLICES_PER_CHUNK_MAX }, (_, i) => s(i * Math.floor(CHUNK_BYTES / SLICES_PER_CHUNK_MAX), 1));
  t.ok(planCompaction(spread).length <= 32 + 16, 'scattered bytes still compact far below the limit');
});

t.test('readsOf: parts of one block far apart are read as separate spans, near ones as one (a pack holds runs from all over the file)', async (t) => {
  const pack = '00000000001-00000000000000aa';
  const seg = (pos: number, len: number, off: number) => ({ pos, len, src: { block: pack, off } });
  // Three 4 KiB runs of one 1 MiB pack in one piece: two 8 KiB apart, one ~900 KiB further on.
  const r = readsOf({ pos: 0, len: 1 << 20, segs: [seg(0, 4096, 100_000), seg(500_000, 4096, 112_288), seg(700_000, 4096, 1_020_000)] });
  t.same(r.get(pack)!.map((g) => [g.from, g.to, g.parts.length]), [[100_000, 116_384, 2], [1_020_000, 1_024_096, 1]]);
});

t.test('vfs: random 4 KiB writes are compacted in the background; contents match a reference', async (t) => {
  const { cluster, vfs } = await setup();
  const fileBytes = 2 * 1024 * 1024, ref = Buffer.alloc(fileBytes);
  const fd = must(await vfs.create(ROOT, '/r', 0o644, O_CREAT | O_RDWR));
  must(await vfs.write(ROOT, fd, fileBytes - 1, Buffer.alloc(1))); // the size is the reference's
  for (let i = 0; i < 1500; i++) {
    const off = Math.floor(Math.random() * (fileBytes / 4096)) * 4096, data = randomBytes(4096);
    data.copy(ref, off);
    must(await vfs.write(ROOT, fd, off, data));
    if (i % 40 === 39) must(await vfs.flush(ROOT, fd));
  }
  must(await vfs.flush(ROOT, fd));
  const ino = vfs.files.handle(fd).ino;
  await vfs.files.compactor.compact(ino, 0); // the last commits may have left fewer than the check interval
  const before = await cluster.meta('getattr', { ino });
  t.ok(await until(async () => (await cluster.meta('readChunk', { ino, chunk: 0 })).slices.length < 64), 'the chunk ends up with few slices');
  t.ok((cluster.calls.get('compactChunk') ?? 0) > 0, 'compactChunk was used');
  const after = await cluster.meta('getattr', { ino });
  t.same([after.size, after.mtime], [before.size, before.mtime], 'compaction is not a write');
  t.ok(must(await vfs.read(ROOT, fd, 0, fileBytes)).equals(ref), 'reads match after compaction');
  must(await vfs.release(ROOT, fd));
});

t.test('vfs: a chunk full of slices (EFBIG) is compacted and the write still commits', async (t) => {
  const { cluster, vfs } = await setup();
  const fd = must(await vfs.create(ROOT, '/full', 0o644, O_CREAT | O_RDWR));
  const ino = vfs.files.handle(fd).ino;
  // Another writer filled the chunk with disjoint 1-byte slices, up to the limit.
  const block = makeBlockId(Date.now(), 'ab'.repeat(8));
  await cluster.putBlock(block, Buffer.from('x'));
  const slices = Array.from({ length: SLICES_PER_CHUNK_MAX }, (_, i) => ({ chunk: 0, pos: i * 100, len: 1, block, off: 0 }));
  for (let i = 0; i < slices.length; i += COMMIT_SLICES_MAX) await cluster.meta('commitWrite', { ino, slices: slices.slice(i, i + COMMIT_SLICES_MAX), cred: ROOT_CRED });
  must(await vfs.write(ROOT, fd, 50, Buffer.from('y')));
  must(await vfs.flush(ROOT, fd));
  const after = (await cluster.meta('readChunk', { ino, chunk: 0 })).slices;
  t.ok(after.length < 64, `compacted to ${after.length} slices`);
  const back = must(await vfs.read(ROOT, fd, 0, 300));
  t.same([back[0], back[50], back[100], back[200], back[1]], [0x78, 0x79, 0x78, 0x78, 0]);
  must(await vfs.release(ROOT, fd));
});

t.test('Compactor: EAGAIN when the chunk changed between read and commit is retried with a fresh read', async (t) => {
  const { cluster, o } = await setup();
  const f = await cluster.meta('mknod', { parent: 1, name: 'c', mode: 0o100644, rdev: 0, cred: ROOT_CRED });
  const block = makeBlockId(Date.now(), 'cd'.repeat(8));
  await cluster.putBlock(block, randomBytes(1000));
  await cluster.meta('commitWrite', { ino: f.ino, slices: Array.from({ length: 10 }, (_, i) => ({ chunk: 0, pos: i * 10, len: 10, block, off: i * 10 })), cred: ROOT_CRED });
  const c = new Compactor(o);
  const real = cluster.meta.bind(cluster);
  let raced = false;
  cluster.meta = (async (op: string, args: never) => {
    if (op === 'compactChunk' && !raced) { // a truncate lands between the compactor's read and its commit
      raced = true;
      await real('setattr', { ino: f.ino, size: 55, cred: ROOT_CRED });
    }
    return real(op as never, args);
  }) as typeof cluster.meta;
  t.equal(await c.compact(f.ino, 0, 1), 'compacted');
  t.same((await real('readChunk', { ino: f.ino, chunk: 0 })).slices.map((x) => [x.pos, x.len]), [[0, 55]]);
});

t.test('vfs: compaction over several pieces reads each shared pack once; contents match a reference', async (t) => {
  const { cluster, vfs } = await setup();
  const fileBytes = 3 * BLOCK_BYTES_MAX, ref = randomBytes(fileBytes);
  const fd = must(await vfs.create(ROOT, '/p', 0o644, O_CREAT | O_RDWR));
  for (let off = 0; off < fileBytes; off += 1 << 20) must(await vfs.write(ROOT, fd, off, ref.subarray(off, off + (1 << 20))));
  must(await vfs.flush(ROOT, fd)); // the file is written whole first: one 4 MiB block per piece
  // 600 scattered 4 KiB writes, committed together: they are packed into blocks that every piece reads.
  for (let i = 0; i < 600; i++) {
    const off = Math.floor(Math.random() * (fileBytes / 4096)) * 4096, data = randomBytes(4096);
    data.copy(ref, off);
    must(await vfs.write(ROOT, fd, off, data));
  }
  must(await vfs.flush(ROOT, fd));
  const ino = vfs.files.handle(fd).ino;
  const { slices } = await cluster.meta('readChunk', { ino, chunk: 0 });
  const packs = new Set(slices.filter((x) => x.len === 4096).map((x) => x.block)).size;
  const gets = cluster.calls.get('blockGet') ?? 0;
  await vfs.files.compactor.compact(ino, 0, 1);
  const reads = (cluster.calls.get('blockGet') ?? 0) - gets;
  t.ok(reads <= packs + 3, `${reads} block reads for ${packs} packs and 3 pieces (not one per pack per piece)`);
  t.ok((await cluster.meta('readChunk', { ino, chunk: 0 })).slices.length <= 3, 'compacted');
  t.ok(must(await vfs.read(ROOT, fd, 0, fileBytes)).equals(ref), 'reads match after compaction');
  must(await vfs.release(ROOT, fd));
});

/** A file with `chunks` chunks of `per` scattered 1-byte slices each (from another writer), and a compactor watched per call. */
async function manyChunks(chunks: number, per: number) {
  const { cluster, o } = await setup();
  const f = await cluster.meta('mknod', { parent: 1, name: 'many', mode: 0o100644, rdev: 0, cred: ROOT_CRED });
  const block = makeBlockId(Date.now(), 'ef'.repeat(8));
  await cluster.putBlock(block, Buffer.from('z'));
  for (let c = 0; c < chunks; c++) {
    const slices = Array.from({ length: per }, (_, i) => ({ chunk: c, pos: i * 100, len: 1, block, off: 0 }));
    await cluster.meta('commitWrite', { ino: f.ino, slices, cred: ROOT_CRED });
  }
  const real = cluster.meta.bind(cluster);
  const seen = { active: 0, maxActive: 0, order: [] as number[], failChunk: -1 };
  cluster.meta = (async (op: string, args: { chunk: number }) => {
    if (op === 'readChunk') {
      seen.order.push(args.chunk);
      seen.maxActive = Math.max(seen.maxActive, ++seen.active);
      await new Promise((r) => setTimeout(r, 20)); // long enough for the others to pile up
      if (args.chunk === seen.failChunk) {
        seen.active--;
        throw new FsError('EIO', 'injected');
      }
    }
    try {
      return await real(op as never, args as never);
    } finally {
      if (op === 'compactChunk') seen.active--;
    }
  }) as typeof cluster.meta;
  return { cluster, o, ino: f.ino, real, seen };
}

t.test('Compactor: at most COMPACTIONS_RUNNING_MAX at once over many chunks; all are compacted; a failed one frees its slot', async (t) => {
  const chunks = 5;
  const { o, ino, real, seen } = await manyChunks(chunks, 200);
  seen.failChunk = 1;
  const c = new Compactor(o);
  const outcomes = await Promise.allSettled(Array.from({ length: chunks }, (_, i) => c.compact(ino, i, 1)));
  t.equal(seen.maxActive, COMPACTIONS_RUNNING_MAX, `never more than ${COMPACTIONS_RUNNING_MAX} running`);
  t.same(outcomes.map((x) => x.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'], 'the injected failure reaches its caller only');
  for (const i of [0, 2, 3, 4]) t.ok((await real('readChunk', { ino, chunk: i })).slices.length < 64, `chunk ${i} compacted after the failure freed the slot`);
  seen.failChunk = -1;
  t.equal(await c.compact(ino, 1, 1), 'compacted', 'and the failed chunk compacts when asked again');
});

t.test('Compactor: a blocked writer (EFBIG) goes ahead of waiting background compactions; a second call joins a waiting one', async (t) => {
  const { o, ino, seen } = await manyChunks(4, 200);
  const c = new Compactor(o, 1);
  const all = [0, 1, 2].map((i) => c.compact(ino, i)); // background (minSlices 64): 0 runs, 1 and 2 wait
  t.equal(c.compact(ino, 2), all[2], 'a call for a chunk whose compaction has not started joins it');
  all.push(c.compact(ino, 3, 1)); // as commitGroup does on EFBIG
  const waited = c.settled(ino, 2); // as commitGroup does first on EFBIG: chunk 2 is now urgent too
  t.same(await Promise.all(all), ['compacted', 'compacted', 'compacted', 'compacted']);
  t.equal(await waited, true);
  t.same(seen.order, [0, 2, 3, 1], 'urgent ones first (2 and 3, in call order), then the background one');
  t.equal(seen.maxActive, 1);
});
