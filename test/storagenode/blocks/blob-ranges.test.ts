import t from 'tap';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { BlobBlockStore } from '../../../storagenode/blocks/blob-store.js';
import { BlockCorruptError } from '../../../storagenode/blocks/block-store.js';
import { blockChecksums, crc32Combine, RANGE_BYTES } from '../../../storagenode/blocks/segment-record.js';
import { decodeFrame, encodeFrame } from '../../../shared/wire/codec.js';
import { DATA_REPLY_PREFIX_BYTES_MAX } from '../../../shared/wire/data-reply.js';
import { roomOf } from '../../../shared/wire/room.js';
import { bytes, id, tempDir } from './block-store-suite.js';
import { encodeV1Head, findRecord, flipRecordByte, scanSegments } from './segment-tools.js';

const open = (path: string) => BlobBlockStore.open({ path, compactEveryMs: 0 });

/** Records the length of every positional read the store makes. */
function countReads(s: BlobBlockStore): number[] {
  const lens: number[] = [];
  const read = s.files.read.bind(s.files);
  s.files.read = (n, off, len) => (lens.push(len), read(n, off, len));
  return lens;
}

t.test('blob ranges: crc32Combine and blockChecksums agree with zlib over whole blocks', async (t) => {
  for (const n of [0, 1, RANGE_BYTES - 1, RANGE_BYTES, RANGE_BYTES + 1, 5 * RANGE_BYTES + 77, 4 * 1024 * 1024]) {
    const d = randomBytes(n);
    const { crc, ranges } = blockChecksums(d);
    t.equal(crc, crc32(d) >>> 0, `whole crc of ${n} bytes`);
    t.equal(ranges.length, Math.ceil(n / RANGE_BYTES));
    if (n > 10) t.equal(crc32Combine(crc32(d.subarray(0, 10)) >>> 0, crc32(d.subarray(10)) >>> 0, n - 10), crc32(d) >>> 0);
  }
});

t.test('blob ranges: a ranged get reads and verifies only the ranges it covers', async (t) => {
  const dir = tempDir(t);
  const s = await open(dir);
  t.teardown(() => s.close());
  const a = id(), data = bytes(4 * 1024 * 1024, 3);
  await s.put(a, data);
  const lens = countReads(s);
  t.same(Buffer.from((await s.get(a, 3_000_000, 4096))!), data.subarray(3_000_000, 3_004_096));
  t.ok(lens.reduce((x, y) => x + y, 0) <= 2 * RANGE_BYTES, `a 4 KiB get far into the block read ${lens.join(' + ')} bytes`);
  lens.length = 0;
  t.same(Buffer.from((await s.get(a, 10, 5000))!), data.subarray(10, 5010), 'near the head: one read');
  t.equal(lens.length, 1);
  // Across range borders, to the end, and clamped past it.
  t.same(Buffer.from((await s.get(a, RANGE_BYTES - 5, 2 * RANGE_BYTES + 10))!), data.subarray(RANGE_BYTES - 5, 3 * RANGE_BYTES + 5));
  t.same(Buffer.from((await s.get(a, data.length - 100, 1000))!), data.subarray(data.length - 100));
  t.same(Buffer.from((await s.get(a, data.length, 10))!), Buffer.alloc(0));
  t.same(Buffer.from((await s.get(a))!), data);
});

t.test('blob ranges: a flipped byte fails every read that returns its range, the whole get, and scrub-style reads', async (t) => {
  const dir = tempDir(t);
  let s = await open(dir);
  const a = id(), b = id(), data = bytes(1024 * 1024, 5);
  await s.put(a, data);
  await s.put(b, data);
  await s.close();
  const bad = 700_000; // in range 10
  flipRecordByte(dir, a, (r) => r.headBytes + bad);
  flipRecordByte(dir, b, (r) => r.headBytes - 2); // b's range table: its header crc fails
  s = await open(dir);
  t.teardown(() => s.close());
  await t.rejects(s.get(a), BlockCorruptError, 'whole get (scrub reads this way)');
  await t.rejects(s.get(a, bad, 1), { code: 'BLOCK_CORRUPT', id: a });
  await t.rejects(s.get(a, 10 * RANGE_BYTES, 10), { code: 'BLOCK_CORRUPT', id: a }, 'any byte of the bad range');
  await t.rejects(s.get(a, bad - 100_000, 200_000), { code: 'BLOCK_CORRUPT', id: a });
  t.same(Buffer.from((await s.get(a, 0, 4096))!), data.subarray(0, 4096), 'other ranges are good and verified');
  t.same(Buffer.from((await s.get(a, 11 * RANGE_BYTES, 4096))!), data.subarray(11 * RANGE_BYTES, 11 * RANGE_BYTES + 4096));
  for (const [off, len] of [[0, 10], [900_000, 10], [undefined, undefined]] as const) {
    await t.rejects(s.get(b, off, len), { code: 'BLOCK_CORRUPT', id: b }, `header damage: get(${off}, ${len})`);
  }
  await s.put(a, data); // repair
  t.same(Buffer.from((await s.get(a, bad, 1))!), data.subarray(bad, bad + 1));
});

t.test('blob ranges: version 1 records (no range table) still read, verify whole, and survive compaction', async (t) => {
  const dir = tempDir(t);
  let s = await open(dir);
  const old = id(), dead = id(), data = bytes(300_000, 7);
  // A record as the store wrote it before range checksums.
  const crc = crc32(data) >>> 0;
  const putV1 = (x: string) => (s as unknown as { enqueue(f: (done: unknown) => object): Promise<void> })
    .enqueue((done) => ({ kind: 'put', id: x, data, head: encodeV1Head(x, crc, data.length, 1), crc, storedAtMs: 1, version: 1, done }));
  await putV1(old);
  await putV1(dead);
  t.equal(findRecord(dir, old).headBytes, 32 + old.length, 'no range table');
  t.same(Buffer.from((await s.get(old, 100_000, 10))!), data.subarray(100_000, 100_010));
  await s.close();
  flipRecordByte(dir, dead, (r) => r.headBytes + 299_999);
  s = await open(dir);
  await t.rejects(s.get(dead, 0, 10), BlockCorruptError, 'a version 1 copy verifies whole on a ranged get');
  await s.delete([dead]);
  const n = id();
  await s.put(n, data);
  // Roll and compact: the old segment is half dead; the v1 record moves as it is.
  await s.close();
  s = await BlobBlockStore.open({ path: dir, compactEveryMs: 0, segmentBytes: 1, compactDeadRatio: 0.2 });
  t.teardown(() => s.close());
  await s.put(id(), bytes(10));
  t.equal(await s.compact(), 1, 'the first segment was compacted away');
  t.same(Buffer.from((await s.get(old))!), data);
  t.same(Buffer.from((await s.get(old, 299_990, 100))!), data.subarray(299_990));
  t.same(Buffer.from((await s.get(n, 299_990, 100))!), data.subarray(299_990));
  t.same(scanSegments(dir).filter((r) => r.id === old).map((r) => r.headBytes), [32 + old.length]);
});

t.test('blob ranges: a get lends the bytes before the block to the reply, which then frames it without a copy', async (t) => {
  const s = await open(tempDir(t));
  t.teardown(() => s.close());
  const b = id(), data = randomBytes(4 * 1024 * 1024);
  await s.put(b, data);
  const far = 3 * RANGE_BYTES + 5; // past NEAR_HEAD_BYTES: head and body read apart
  for (const [what, off, len] of [['whole', 0, data.length], ['near the head', 100, RANGE_BYTES + 7], ['far from the head', far, 2 * RANGE_BYTES]] as const) {
    const got = (await s.get(b, off, len))!;
    t.same(got, data.subarray(off, off + len), `${what}: bytes`);
    t.ok(roomOf(got) >= DATA_REPLY_PREFIX_BYTES_MAX, `${what}: ${roomOf(got)} bytes of room lent`);
    const frame = encodeFrame({ id: 77, ok: true, result: { data: got } });
    t.equal(frame.buffer, got.buffer, `${what}: framed in place`);
    t.same(decodeFrame(frame), { id: 77, ok: true, result: { data: data.subarray(off, off + len) } }, `${what}: the frame decodes to the block's bytes`);
  }
  // The next get reads its own buffer: the framing of one reply never touches another's bytes.
  const again = (await s.get(b))!;
  t.same(again, data);
});
