import t from 'tap';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BlobBlockStore, type BlobBlockStoreOptions } from '../../../storagenode/blocks/blob-store.js';
import { BlockStoreKindError, openBlockStore } from '../../../storagenode/blocks/backend.js';
import { LevelBlockStore } from '../../../storagenode/blocks/level-store.js';
import { SegmentFiles } from '../../../storagenode/blocks/segment-files.js';
import { silentLogger } from '../../../shared/log.js';
import { blockStoreSuite, bytes, id, tempDir } from './block-store-suite.js';
import { findRecord, flipRecordByte, lastPayloadByte, scanSegments } from './segment-tools.js';

blockStoreSuite({
  name: 'blob-store',
  open: (opts) => BlobBlockStore.open({ compactEveryMs: 0, ...opts }),
  async corrupt(dir, { payload, frame }) {
    flipRecordByte(dir, payload, lastPayloadByte);
    flipRecordByte(dir, frame, (r) => r.headBytes - 1); // the range table's last byte: header crc fails
  },
});

// Where O_DIRECT is refused (or turned off), segments are written through the page cache: same contract.
blockStoreSuite({
  name: 'blob-store (page cache writes)',
  open: (opts) => BlobBlockStore.open({ compactEveryMs: 0, direct: false, ...opts }),
  async corrupt(dir, { payload, frame }) {
    flipRecordByte(dir, payload, lastPayloadByte);
    flipRecordByte(dir, frame, (r) => r.headBytes - 1);
  },
});

const open = (path: string, o: Partial<BlobBlockStoreOptions> = {}) => BlobBlockStore.open({ path, compactEveryMs: 0, ...o });
const segFiles = (dir: string) => readdirSync(join(dir, 'segments')).filter((n) => n.endsWith('.seg')).sort();

t.test('blob-store: records go to segment files, which roll at segmentBytes, and read back after reopen', async (t) => {
  const dir = tempDir(t);
  const s = await open(dir, { segmentBytes: 256 * 1024 });
  const ids = Array.from({ length: 40 }, () => id());
  for (const [i, x] of ids.entries()) await s.put(x, bytes(50_000, i));
  t.ok(segFiles(dir).length >= 7, `${segFiles(dir).length} segments`);
  t.equal(scanSegments(dir).length, 40, 'one record per block');
  await s.close();
  const s2 = await open(dir, { segmentBytes: 256 * 1024 });
  t.teardown(() => s2.close());
  for (const [i, x] of ids.entries()) t.same(Buffer.from((await s2.get(x))!), bytes(50_000, i));
  t.same(s2.stats(), { count: 40, bytes: 40 * 50_000 });
});

t.test('blob-store: a torn or unacknowledged tail past the committed end is ignored and cut off', async (t) => {
  const dir = tempDir(t);
  const s = await open(dir);
  const a = id(), b = id();
  await s.put(a, bytes(10_000, 1));
  await s.put(b, bytes(20_000, 2));
  await s.close();
  const seg = join(dir, 'segments', segFiles(dir).at(-1)!);
  const size = statSync(seg).size;
  // A whole record whose index batch never landed, then half of another (a torn write).
  const whole = readFileSync(seg).subarray(findRecord(dir, b).off);
  appendFileSync(seg, Buffer.concat([whole, whole.subarray(0, 7_000), Buffer.alloc(100, 0xee)]));
  const s2 = await open(dir);
  t.teardown(() => s2.close());
  t.equal(statSync(seg).size, size, 'truncated back to the committed end');
  t.same(Buffer.from((await s2.get(a))!), bytes(10_000, 1));
  t.same(Buffer.from((await s2.get(b))!), bytes(20_000, 2));
  t.same(s2.stats(), { count: 2, bytes: 30_000 });
  const c = id();
  await s2.put(c, bytes(5_000, 3));
  t.same(Buffer.from((await s2.get(c))!), bytes(5_000, 3));
});

t.test('blob-store: compaction rewrites mostly-dead segments while reads and deletes go on, losing nothing', async (t) => {
  const dir = tempDir(t);
  const s = await open(dir, { segmentBytes: 200 * 1024, compactBytesPerSec: 1 << 30 });
  const ids = Array.from({ length: 120 }, () => id());
  const sizeOf = (i: number) => 10_000 + (i % 7) * 1000;
  for (let k = 0; k < ids.length; k += 8) { // batches of 8: a segment rolls only between batches
    await Promise.all(ids.slice(k, k + 8).map((x, j) => s.put(x, bytes(sizeOf(k + j), k + j))));
  }
  const keep = new Set(ids.filter((_x, i) => i % 5 === 0));
  await s.delete(ids.filter((x) => !keep.has(x)));
  const before = segFiles(dir).length;
  // Readers hammer the survivors during the pass; a deleter removes some of them at the same time.
  let stop = false, reads = 0;
  const readers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      for (const [i, x] of ids.entries()) {
        if (!keep.has(x)) continue;
        const got = await s.get(x);
        if (got !== null) { t.same(Buffer.from(got), bytes(sizeOf(i), i)); reads++; }
      }
    }
  });
  const late = [...keep].slice(0, 5);
  const deleter = s.delete(late).then(() => late.forEach((x) => keep.delete(x)));
  const removed = await s.compact();
  await deleter;
  stop = true;
  await Promise.all(readers);
  t.ok(removed > 0 && segFiles(dir).length < before, `${before} → ${segFiles(dir).length} segment files, ${reads} reads during the pass`);
  const want = ids.reduce((n, x, i) => (keep.has(x) ? n + sizeOf(i) : n), 0);
  t.same(s.stats(), { count: keep.size, bytes: want });
  await s.close();
  const s2 = await open(dir, { segmentBytes: 200 * 1024 });
  t.teardown(() => s2.close());
  t.same(s2.stats(), { count: keep.size, bytes: want }, 'stats exact after restart');
  t.same(await s2.recount(), s2.stats());
  for (const [i, x] of ids.entries()) {
    const got = await s2.get(x);
    if (keep.has(x)) t.same(Buffer.from(got!), bytes(sizeOf(i), i));
    else t.equal(got, null);
  }
  const live = s2.segments().reduce((n, g) => n + g.live, 0);
  t.equal(live, scanSegments(dir).filter((r) => keep.has(r.id)).reduce((n, r) => n + r.headBytes + r.size, 0), 'live bytes per segment match the records');
});

t.test('blob-store: a read in flight on a segment being retired completes from the open descriptor', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'segments'));
  const f = await SegmentFiles.open(join(dir, 'segments'));
  await f.create(1);
  await f.write(1, [Buffer.from('hello segment')], 0);
  await f.close();
  const g = await SegmentFiles.open(join(dir, 'segments'));
  const reading = g.read(1, 6, 7);
  await g.retire(1);
  t.same((await reading)?.toString(), 'segment');
  t.equal(await g.read(1, 0, 5), null, 'a read after retirement is told to look again');
  t.same(segFiles(dir), []);
  await g.close();
});

t.test('blob-store: stats stay exact across restarts with puts, re-puts, deletes and repairs', async (t) => {
  const dir = tempDir(t);
  let s = await open(dir);
  const ids = Array.from({ length: 30 }, () => id());
  await Promise.all(ids.map((x, i) => s.put(x, bytes(1000 * (i + 1), i))));
  await s.delete(ids.slice(0, 10));
  await s.put(ids[20]!, bytes(21_000, 20));
  await s.close();
  flipRecordByte(dir, ids[25]!, lastPayloadByte);
  s = await open(dir);
  await s.put(ids[25]!, bytes(26_000, 25)); // repair: replaces the corrupt copy
  const want = { count: 20, bytes: ids.slice(10).reduce((n, _x, i) => n + 1000 * (i + 11), 0) };
  t.same(s.stats(), want);
  await s.close();
  s = await open(dir);
  t.teardown(() => s.close());
  t.same(s.stats(), want);
  t.same(await s.recount(), want);
  t.same(Buffer.from((await s.get(ids[25]!))!), bytes(26_000, 25));
});

t.test('blob-store: a node refuses a block directory made by the other backend', async (t) => {
  const levelDir = tempDir(t), blobDir = tempDir(t);
  await (await LevelBlockStore.open({ path: levelDir })).close();
  await (await open(blobDir)).close();
  await t.rejects(openBlockStore('blob', levelDir, silentLogger), BlockStoreKindError);
  await t.rejects(openBlockStore('level', blobDir, silentLogger), { code: 'BLOCK_STORE_KIND', message: /made with the blob backend.*--block-store blob/ });
  await (await openBlockStore('blob', blobDir, silentLogger)).close();
  await (await openBlockStore('level', levelDir, silentLogger)).close();
});
