import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../shared/log.js';
import { BlockCache, CACHE_UNIT_BYTES } from '../../../client/vfs/block-cache.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { O_CREAT, O_RDONLY, O_RDWR, O_TRUNC } from '../../../client/vfs/perms.js';
import type { OpContext } from '../../../client/vfs/types.js';
import { FakeCluster } from './fake-cluster.js';

const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
const must = <T>(r: { ok: true; value: T } | { ok: false; errno: string }): T => {
  if (!r.ok) throw new Error(`unexpected ${r.errno}`);
  return r.value;
};

/** A block of `size` bytes and a fetch that records every range asked for (and refuses past the end, as a node does). */
function block(size: number) {
  const data = randomBytes(size);
  const asked: [number, number][] = [];
  const fetch = async (off: number, len: number) => {
    asked.push([off, len]);
    await new Promise((r) => setImmediate(r));
    if (off + len > size) throw new Error(`past the end: ${off}+${len}`);
    return data.subarray(off, off + len);
  };
  return { data, asked, fetch };
}

t.test('block cache: a miss fetches the aligned unit around it, later reads inside it are hits', async (t) => {
  const c = new BlockCache(1 << 20, CACHE_UNIT_BYTES);
  const b = block(300_000);
  const out = Buffer.alloc(4096);
  await c.read('b1', 70_000, out, 0, 300_000, b.fetch);
  t.same(out, b.data.subarray(70_000, 74_096));
  t.same(b.asked, [[65_536, 65_536]], 'one aligned 64 KiB fetch');
  await c.read('b1', 100_000, out, 0, 300_000, b.fetch);
  t.same(out, b.data.subarray(100_000, 104_096));
  t.equal(b.asked.length, 1, 'a hit');
  // A read spanning a cached and an uncached unit fetches only the missing part (aligned).
  const big = Buffer.alloc(100_000);
  await c.read('b1', 120_000, big, 0, 300_000, b.fetch);
  t.same(big, b.data.subarray(120_000, 220_000));
  t.same(b.asked[1], [131_072, 131_072]);
  // The block's last unit: clipped to the known extent, never past the block's end.
  await c.read('b1', 299_000, Buffer.alloc(1000), 0, 300_000, b.fetch);
  t.same(b.asked[2], [262_144, 300_000 - 262_144]);
  t.same(c.stats.hits, 1);
});

t.test('block cache: clipped to the extent a slice names; concurrent readers share one fetch; errors are not cached', async (t) => {
  const c = new BlockCache(1 << 20, 4 * CACHE_UNIT_BYTES);
  const b = block(1 << 20);
  const outs = [Buffer.alloc(10), Buffer.alloc(10), Buffer.alloc(10)];
  await Promise.all(outs.map((o, i) => c.read('b2', 10_000 + i, o, 5000, 90_000, b.fetch)));
  t.same(b.asked, [[5000, 85_000]], 'one fetch, inside [lo, hi)');
  outs.forEach((o, i) => t.same(o, b.data.subarray(10_000 + i, 10_010 + i)));
  let fail = true;
  const flaky = async (off: number, len: number) => {
    if (fail) throw new Error('down');
    return b.fetch(off, len);
  };
  await t.rejects(c.read('b3', 0, Buffer.alloc(10), 0, 1 << 20, flaky), /down/);
  fail = false;
  const o = Buffer.alloc(10);
  await c.read('b3', 0, o, 0, 1 << 20, flaky);
  t.same(o, b.data.subarray(0, 10), 'retried after a failed fetch');
});

t.test('block cache: memory stays within the budget', async (t) => {
  const c = new BlockCache(8 * CACHE_UNIT_BYTES, CACHE_UNIT_BYTES);
  const b = block(4 << 20);
  for (let i = 0; i < 64; i++) {
    const o = Buffer.alloc(100);
    await c.read('b4', i * CACHE_UNIT_BYTES + 7, o, 0, 4 << 20, b.fetch);
    t.same(o, b.data.subarray(i * CACHE_UNIT_BYTES + 7, i * CACHE_UNIT_BYTES + 107));
    t.ok(c.bytes <= 8 * CACHE_UNIT_BYTES, `${c.bytes} bytes held`);
  }
  // A working set as large as the budget stays whole; a piece hit since it came round survives a scan.
  const c2 = new BlockCache(8 * CACHE_UNIT_BYTES, CACHE_UNIT_BYTES);
  const b2 = block(4 << 20);
  const at = (i: number) => c2.read('b5', i * CACHE_UNIT_BYTES, Buffer.alloc(10), 0, 4 << 20, b2.fetch);
  for (let i = 0; i < 8; i++) await at(i);
  for (let i = 0; i < 8; i++) await at(i);
  t.equal(b2.asked.length, 8, 'the second pass over 8 units was all hits');
  for (let i = 8; i < 15; i++) await at(i); // a scan of 7 new units evicts the 7 oldest
  const before = b2.asked.length;
  await at(7);
  await at(14);
  t.equal(b2.asked.length, before, 'the newest 8 units stayed');
  await at(15); // evicts the oldest not hit since the sweep: 8, not 7 or 14
  await at(7);
  await at(14);
  t.equal(b2.asked.length, before + 1, 'hit pieces got a second chance');
  await at(8);
  t.equal(b2.asked.length, before + 2, 'the unhit one went');
  const none = new BlockCache(0);
  const o = Buffer.alloc(100);
  await none.read('b4', 5, o, 0, 4 << 20, b.fetch);
  t.same(o, b.data.subarray(5, 105), 'a zero budget reads through');
});

async function mountOn(cluster: FakeCluster): Promise<Vfs> {
  return new Vfs({ cluster, clock: { nowMs: () => Date.now() }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: 0 });
}

t.test('vfs read cache: random reads after a reopen come from the cache; close-to-open still sees new data', async (t) => {
  const cluster = await FakeCluster.create();
  const a = await mountOn(cluster), b = await mountOn(cluster);
  const v1 = randomBytes(3 << 20);
  let fd = must(await a.create(ROOT, '/f', 0o644, O_CREAT | O_RDWR));
  must(await a.write(ROOT, fd, 0, v1));
  must(await a.release(ROOT, fd));
  const offs = [5, 1_000_000, 2_500_000, 70_000, 3_000_000];
  fd = must(await a.open(ROOT, '/f', O_RDONLY));
  for (const off of offs) t.same(must(await a.read(ROOT, fd, off, 4096)), v1.subarray(off, off + 4096));
  must(await a.release(ROOT, fd));
  const gets = cluster.calls.get('blockGet') ?? 0;
  fd = must(await a.open(ROOT, '/f', O_RDONLY));
  for (const off of offs) t.same(must(await a.read(ROOT, fd, off + 100, 4096)), v1.subarray(off + 100, off + 4196));
  t.equal(cluster.calls.get('blockGet') ?? 0, gets, 'no block fetched again after a reopen');
  must(await a.release(ROOT, fd));
  // Another mount rewrites the file (new blocks) and closes; the next open here reads the new bytes.
  const v2 = randomBytes(3 << 20);
  fd = must(await b.open(ROOT, '/f', O_RDWR | O_TRUNC));
  must(await b.write(ROOT, fd, 0, v2));
  must(await b.release(ROOT, fd));
  fd = must(await a.open(ROOT, '/f', O_RDONLY));
  for (const off of offs) t.same(must(await a.read(ROOT, fd, off + 100, 4096)), v2.subarray(off + 100, off + 4196), `new data at ${off}`);
  t.same(must(await a.read(ROOT, fd, 0, 3 << 20)), v2, 'whole file');
  must(await a.release(ROOT, fd));
});

t.test('vfs: a first-chunk layout carried by the open is used: a small file is read with no readChunk', async (t) => {
  const cluster = await FakeCluster.create();
  const w = await mountOn(cluster);
  const data = randomBytes(16 << 10);
  let fd = must(await w.create(ROOT, '/s', 0o644, O_CREAT | O_RDWR));
  must(await w.write(ROOT, fd, 0, data));
  must(await w.release(ROOT, fd));
  // As a node answers an open (storagenode/rpc/handlers.ts withFirstLayout); its readChunk is not the reader's.
  let carried = 0;
  const carrying = Object.assign(Object.create(cluster) as FakeCluster, {
    meta: async (op: string, args: never) => {
      const r = await cluster.meta(op as never, args);
      if (op !== 'open') return r;
      carried++;
      return { ...(r as object), chunk0: await cluster.meta('readChunk', { ino: (r as { ino: number }).ino, chunk: 0 }) };
    },
  });
  const r = await mountOn(carrying);
  const before = cluster.calls.get('readChunk') ?? 0;
  fd = must(await r.open(ROOT, '/s', O_RDONLY));
  t.same(must(await r.read(ROOT, fd, 0, 128 << 10)), data);
  must(await r.release(ROOT, fd));
  t.equal(carried, 1);
  t.equal((cluster.calls.get('readChunk') ?? 0) - before, 1, 'only the one the open carried');
});

t.test('block cache: view() hands out the fetched bytes without a copy; pieces of different fetches are not a view', async (t) => {
  const c = new BlockCache(8 << 20, CACHE_UNIT_BYTES);
  const b = block(4 << 20);
  const v = await c.view('v1', 0, 4 << 20, 0, 4 << 20, b.fetch);
  t.ok(v);
  t.equal(v!.buffer, b.data.buffer, 'a view of the fetched buffer');
  t.same(v, b.data);
  t.same(b.asked, [[0, 4 << 20]], 'one fetch of the whole range');
  t.same((await c.view('v1', 65_536, 100_000, 0, 4 << 20, b.fetch))?.buffer, b.data.buffer, 'a cached part: a view, no fetch');
  t.equal(b.asked.length, 1);
  // Two random misses fetched separately: held, but not contiguous in one buffer.
  const d = block(1 << 20);
  const own = async (off: number, len: number) => Buffer.from(await d.fetch(off, len));
  await c.read('v2', 10, Buffer.alloc(10), 0, 1 << 20, own);
  await c.read('v2', CACHE_UNIT_BYTES + 10, Buffer.alloc(10), 0, 1 << 20, own);
  t.equal(await c.view('v2', 0, 2 * CACHE_UNIT_BYTES, 0, 1 << 20, own), null, 'not one buffer: the caller copies');
  t.equal(d.asked.length, 2, 'and nothing was fetched again');
  t.equal(await c.view('v2', 0, 4 * CACHE_UNIT_BYTES, 0, 1 << 20, own), null, 'partly cached: the caller copies');
  t.equal(d.asked.length, 2, 'without a fetch of the whole range here (read() fetches the missing part)');
});

t.test('vfs: sequential reads are views of cached blocks; writes buffered on the handle never reach those bytes', async (t) => {
  const cluster = await FakeCluster.create();
  const a = await mountOn(cluster);
  const v1 = randomBytes(8 << 20);
  let fd = must(await a.create(ROOT, '/seq', 0o644, O_CREAT | O_RDWR));
  must(await a.write(ROOT, fd, 0, v1));
  must(await a.release(ROOT, fd));
  const stored = new Map([...cluster.blocks].map(([k, v]) => [k, Buffer.from(v)]));
  // Slow blocks: the read-ahead of the second block is still under way when the reader gets there.
  const fast = cluster.getBlock.bind(cluster);
  cluster.getBlock = async (...args) => { await new Promise((r) => setTimeout(r, 50)); return fast(...args); };
  fd = must(await a.open(ROOT, '/seq', O_RDWR));
  const first = must(await a.read(ROOT, fd, 0, 1 << 20));
  t.same(first, v1.subarray(0, 1 << 20));
  t.ok([...cluster.blocks.values()].some((blk) => blk.buffer === first.buffer), 'the read is a view of the fetched block (no copy)');
  for (let m = 1; m < 4; m++) t.same(must(await a.read(ROOT, fd, m << 20, 1 << 20)), v1.subarray(m << 20, (m + 1) << 20));
  // A write that arrives while a read waits for its block is laid over a copy, not over the cache.
  const reading = a.read(ROOT, fd, 4 << 20, 1 << 20);
  const patch = Buffer.alloc(4096, 0x5a);
  must(await a.write(ROOT, fd, (4 << 20) + 100, patch));
  const got = must(await reading);
  t.same(got.subarray(100, 4196), patch, 'the read sees the write');
  // Buffered writes before the read: the reader copies, the write shows, the cache stays as committed.
  must(await a.write(ROOT, fd, 200, patch));
  t.same(must(await a.read(ROOT, fd, 0, 1 << 20)).subarray(200, 4296), patch);
  for (const [k, v] of stored) t.same(cluster.blocks.get(k), v, `block ${k} unchanged`);
  must(await a.release(ROOT, fd));
  fd = must(await a.open(ROOT, '/seq', O_RDONLY));
  const after = must(await a.read(ROOT, fd, 0, 8 << 20));
  const want = Buffer.from(v1);
  patch.copy(want, 200);
  patch.copy(want, (4 << 20) + 100);
  t.same(after, want, 'after the close: committed writes, nothing else');
  must(await a.release(ROOT, fd));
});
