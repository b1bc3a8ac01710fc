import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../../shared/assert.js';
import { isBlockId } from '../../shared/block-id.js';
import { BLOCK_BYTES_MAX } from '../../shared/limits.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import type { BlockId } from '../../shared/types.js';
import { DATA_REPLY_PREFIX_BYTES_MAX } from '../../shared/wire/data-reply.js';
import { lendRoom } from '../../shared/wire/room.js';
import { BatchPlan, type BlobReq, type Cur, type Settle, type Verdict } from './blob-batch.js';
import { BlobCompactor, type CompactorOptions } from './blob-compactor.js';
import { BlobIndex, INDEX_FORMAT, ops, type SegLive } from './blob-index.js';
import {
  BlockCorruptError, BlockStoreClosedError, clampRange, sameBytes, type BlockEntry, type BlockStore,
} from './block-store.js';
import { GroupCommitQueue } from './group-commit.js';
import { onlyPadding, SegmentFiles } from './segment-files.js';
import {
  blockChecksums, coveringRanges, encodeSegmentHead, openSegmentRange, openSegmentRecord, recordBytes, SEGMENT_RECORD_VERSION, type BlockLoc,
} from './segment-record.js';

export interface BlobBlockStoreOptions extends CompactorOptions {
  /** The store's directory: index/ (LevelDB) and segments/ go below it. */
  path: string;
  /** A segment is sealed once a batch would take it past this size (default 256 MiB). */
  segmentBytes?: number;
  /** fdatasync + synced index batch (default true). False only to measure what durability costs. */
  sync?: boolean;
  /** Append with O_DIRECT where the file system allows it (default true; segment-files.ts). */
  direct?: boolean;
  /** Put concurrent requests into one synced batch (default true). False only to measure the gain. */
  groupCommit?: boolean;
  /** A batch stops taking requests past this many payload bytes, bounding memory and latency. */
  batchBytesMax?: number;
  now?: () => number;
  log?: Logger;
}

/**
 * Key-value separated block store (WiscKey): blocks are appended to segment files, and a LevelDB index
 * maps id → (segment, offset, size, crc, storedAtMs). LevelDB then holds ~80 bytes per block instead of
 * writing every block twice (log + table) and again in compactions.
 *
 * Crash consistency: a group commit appends its records at the active segment's committed end, then
 * fdatasyncs the segment, then writes one synced index batch that names the records and moves the
 * committed end past them; only then do the puts resolve. So every index entry points at durable bytes,
 * and bytes past the committed end were never acknowledged: open truncates the active segment there,
 * which drops a torn tail (a record whose header or bytes fail their crc) along with whole records
 * whose index batch never landed.
 */
export class BlobBlockStore implements BlockStore {
  private readonly writes: GroupCommitQueue<BlobReq>;
  private closed = false;
  private count = 0;
  private bytes = 0;
  private active: { seg: number; end: number };
  private live: Map<number, SegLive>;
  /** Sealed segments' sizes: with `live`, each one's dead ratio. */
  readonly sealed = new Map<number, number>();
  private readonly sync: boolean;
  private readonly segmentBytes: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly compactor: BlobCompactor;
  readonly commits = { batches: 0, requests: 0 };

  private constructor(readonly index: BlobIndex, readonly files: SegmentFiles, st: OpenState, opts: BlobBlockStoreOptions) {
    this.sync = opts.sync ?? true;
    const batchBytesMax = opts.batchBytesMax ?? 64 * 1024 * 1024;
    this.segmentBytes = opts.segmentBytes ?? 256 * 1024 * 1024;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger;
    assert(batchBytesMax >= BLOCK_BYTES_MAX, 'a batch holds at least one block');
    this.writes = new GroupCommitQueue<BlobReq>({ commit: (batch) => this.commit(batch), bytesOf: reqBytes, groupCommit: opts.groupCommit ?? true, batchBytesMax });
    ({ count: this.count, bytes: this.bytes } = st.stats);
    this.active = st.active;
    this.live = st.live;
    for (const [seg, size] of st.sealed) this.sealed.set(seg, size);
    this.compactor = new BlobCompactor(this.compactorHost(), opts, this.log);
  }

  static async open(opts: BlobBlockStoreOptions): Promise<BlobBlockStore> {
    const segDir = join(opts.path, 'segments');
    await mkdir(segDir, { recursive: true });
    const index = await BlobIndex.open(join(opts.path, 'index'));
    let files: SegmentFiles | null = null;
    try {
      files = await SegmentFiles.open(segDir, { direct: opts.direct, log: opts.log });
      const st = await recover(index, files, opts.log ?? silentLogger);
      const store = new BlobBlockStore(index, files, st, opts);
      store.compactor.start();
      return store;
    } catch (e) {
      await files?.close();
      await index.close();
      throw e;
    }
  }

  put(id: BlockId, data: Uint8Array): Promise<void> {
    assert(isBlockId(id), `put: bad block id ${JSON.stringify(id)}`);
    assert(data.length <= BLOCK_BYTES_MAX, `put: block ${id} of ${data.length} bytes exceeds BLOCK_BYTES_MAX`);
    const { crc, ranges } = blockChecksums(data), storedAtMs = this.now();
    const head = encodeSegmentHead(id, crc, data.length, storedAtMs, ranges);
    return this.enqueue((done) => ({ kind: 'put', id, data, head, crc, storedAtMs, version: SEGMENT_RECORD_VERSION, done }));
  }

  delete(ids: BlockId[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.enqueue((done) => ({ kind: 'del', ids: [...ids], done }));
  }

  /**
   * A version 2 record is read only where the range asks (its head, and the RANGE_BYTES ranges that
   * cover [off, off+len)), and those ranges are verified; a whole get, or a version 1 record, reads
   * and verifies the whole record.
   */
  async get(id: BlockId, off?: number, len?: number): Promise<Uint8Array | null> {
    this.checkOpen('get');
    // A compaction may retire the segment between the index lookup and the read: look up again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const loc = await this.index.loc(id);
      if (loc === undefined) return null;
      if (loc === null) throw new BlockCorruptError(id, 'index entry does not parse');
      const { start, end } = clampRange(loc.size, off, len);
      if (loc.version >= 2 && end - start < loc.size) {
        const data = await this.readRange(id, loc, start, end);
        if (data === null) continue;
        return data;
      }
      const rec = await this.files.read(loc.seg, loc.off, recordBytes(loc));
      if (rec === null) continue;
      return ownView(rec, openSegmentRecord(id, loc, rec).subarray(start, end));
    }
    this.checkOpen('get');
    throw new BlockCorruptError(id, 'its segment file is missing');
  }

  /** [start, end) of a version 2 record: one read when the ranges start near the head, else two at once. */
  private async readRange(id: BlockId, loc: BlockLoc, start: number, end: number): Promise<Buffer | null> {
    const { from, to } = coveringRanges(loc, start, end);
    if (from <= loc.headBytes + NEAR_HEAD_BYTES) {
      const rec = await this.files.read(loc.seg, loc.off, to);
      if (rec === null) return null;
      return ownView(rec, openSegmentRange(id, loc, rec, rec.subarray(Math.min(from, rec.length)), start, end));
    }
    const room = DATA_REPLY_PREFIX_BYTES_MAX;
    const [head, body] = await Promise.all([this.files.read(loc.seg, loc.off, loc.headBytes), this.files.read(loc.seg, loc.off + from, to - from, room)]);
    if (head === null || body === null) return null;
    return ownView(body, openSegmentRange(id, loc, head, body, start, end), room);
  }

  async has(id: BlockId): Promise<boolean> {
    this.checkOpen('has');
    return this.index.has(id);
  }

  async list(opts: { after?: BlockId; limit?: number } = {}): Promise<BlockEntry[]> {
    this.checkOpen('list');
    return this.index.list(opts.after, opts.limit ?? 1000);
  }

  stats(): { count: number; bytes: number } {
    return { count: this.count, bytes: this.bytes };
  }

  /** Per segment: its size and the bytes of live records in it (for tests, status and the compactor). */
  segments(): { seg: number; size: number; live: number; active: boolean }[] {
    const out = [...this.sealed].map(([seg, size]) => ({ seg, size, live: this.live.get(seg)?.bytes ?? 0, active: false }));
    out.push({ seg: this.active.seg, size: this.active.end, live: this.live.get(this.active.seg)?.bytes ?? 0, active: true });
    return out;
  }

  /** Runs one compaction pass now; resolves with the number of segments removed. */
  compact(): Promise<number> {
    return this.compactor.pass();
  }

  /** Rebuilds the counters from the index (reads ~80 bytes per block, not the blocks). */
  async recount(): Promise<{ count: number; bytes: number }> {
    let count = 0, bytes = 0;
    for await (const [, loc] of this.index.entries()) {
      count++;
      bytes += loc?.size ?? 0;
    }
    return { count, bytes };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.compactor.stop();
    // Requests already queued were promised to callers: finish them before closing the files.
    await this.writes.idle();
    // A direct append leaves zeros up to the next 4 KiB boundary: a closed store's files end where its index says.
    await this.files.truncate(this.active.seg, this.active.end).catch((e: Error) => this.log.warn(`segment ${this.active.seg}: could not cut the padding after the committed end: ${e.message}`));
    await this.files.close();
    await this.index.close();
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new BlockStoreClosedError(what);
  }

  private enqueue(make: (done: Settle) => BlobReq): Promise<void> {
    if (this.closed) return Promise.reject(new BlockStoreClosedError('write'));
    return this.writes.enqueue(make);
  }

  /** Plans the batch, appends its records, fdatasyncs, then writes the index in one synced batch. */
  private async commit(batch: BlobReq[]): Promise<void> {
    const appendBytes = batch.reduce((k, r) => k + reqBytes(r), 0);
    if (appendBytes > 0 && this.active.end > 0 && this.active.end + appendBytes > this.segmentBytes) await this.roll();
    const plan = new BatchPlan(await this.loadView(batch), this.live, this.active.seg, this.active.end, this.count, this.bytes);
    for (const r of batch) {
      if (r.kind === 'put') plan.put(r, await this.judgePut(r, plan.view.get(r.id) ?? null));
      else if (r.kind === 'del') plan.del(r);
      else if (r.kind === 'move') plan.move(r);
      else plan.drop(r);
    }
    if (plan.bufs.length > 0) {
      await this.files.write(this.active.seg, plan.bufs, this.active.end);
      if (this.sync) await this.files.datasync(this.active.seg);
    }
    if (plan.ops.length > 0 || plan.bufs.length > 0) {
      await this.index.write(plan.finish(), this.sync);
      this.commits.batches++;
    }
    this.commits.requests += batch.length;
    this.count = plan.count;
    this.bytes = plan.bytes;
    this.live = plan.live;
    this.active.end = plan.pos;
    for (const seg of plan.drops) {
      this.sealed.delete(seg);
      await this.files.retire(seg); // after the index stopped naming it; a crash before this leaves a file open() removes
    }
    for (const r of plan.ok) r.done.resolve();
  }

  /**
   * Seals the active segment (cut to its committed end: a direct append leaves zeros past it) and
   * starts the next; the index names it with the next batch.
   */
  private async roll(): Promise<void> {
    await this.files.truncate(this.active.seg, this.active.end);
    const next = this.active.seg + 1;
    await this.files.create(next);
    this.sealed.set(this.active.seg, this.active.end);
    this.active = { seg: next, end: 0 };
  }

  private async loadView(batch: BlobReq[]): Promise<Map<BlockId, Cur>> {
    const ids = [...new Set(batch.flatMap((r) => (r.kind === 'put' || r.kind === 'move' ? [r.id] : r.kind === 'del' ? r.ids : [])))];
    const locs = await this.index.locs(ids);
    const view = new Map<BlockId, Cur>();
    ids.forEach((id, i) => view.set(id, locs[i] === undefined ? null : locs[i] ?? 'bad'));
    return view;
  }

  /** Only a re-put of an existing id reads the stored copy; a copy that fails its checks is replaced. */
  private async judgePut(r: BlobReq & { kind: 'put' }, cur: Cur): Promise<Verdict> {
    if (cur === null) return 'write';
    if (cur === 'bad') return 'write';
    let stored = cur.data;
    if (stored === undefined) {
      try {
        const rec = await this.files.read(cur.seg, cur.off, recordBytes(cur));
        if (rec === null) throw new BlockCorruptError(r.id, `segment ${cur.seg} is gone`);
        stored = openSegmentRecord(r.id, cur, rec);
      } catch (e) {
        if (!(e instanceof BlockCorruptError)) throw e;
        this.log.warn(`put ${r.id}: replacing a corrupt copy (${e.message})`);
        return 'write';
      }
    }
    return sameBytes(stored, r.data) ? 'same' : 'conflict';
  }

  private compactorHost() {
    return {
      files: this.files, index: this.index,
      candidates: () => this.segments().filter((s) => !s.active),
      move: (id: BlockId, from: BlockLoc, raw: Buffer) => this.enqueue((done) => ({ kind: 'move', id, from, raw, done })),
      drop: (seg: number) => this.enqueue((done) => ({ kind: 'drop', seg, done })),
      liveCount: (seg: number) => this.live.get(seg)?.count ?? 0,
      isOpen: () => !this.closed,
    };
  }
}

/**
 * `view` (a part of `buf`, which this get allocated and nobody else holds) with the bytes of `buf`
 * before it (the checked head, ranges not asked for, `headroom` left by the read) lent to the reply's framing: the node then
 * sends a block without copying it (shared/wire/data-reply.ts).
 */
function ownView(buf: Buffer, view: Buffer, headroom = 0): Buffer {
  lendRoom(view, view.byteOffset - buf.byteOffset + headroom);
  return view;
}

/** A ranged read whose first range starts this close to the record's head reads both in one go. */
const NEAR_HEAD_BYTES = 128 * 1024;

function reqBytes(r: BlobReq): number {
  return r.kind === 'put' ? r.head.length + r.data.length : r.kind === 'move' ? r.raw.length : 0;
}

interface OpenState {
  stats: { count: number; bytes: number };
  active: { seg: number; end: number };
  live: Map<number, SegLive>;
  sealed: Map<number, number>;
}

/**
 * Brings the files in line with the index after a clean stop or a crash: a new store gets segment 1;
 * the active segment is cut back to its committed end (the unacknowledged tail goes); segment files
 * the index does not know are leftovers of a compaction or a roll that never committed, and go.
 */
async function recover(index: BlobIndex, files: SegmentFiles, log: Logger): Promise<OpenState> {
  const meta = await index.readMeta();
  if (meta.format === undefined) {
    if (files.numbers.length > 0) throw new Error(`block store ${files.dir}: segment files without an index`);
    await files.create(1);
    await index.write([ops.format(), ops.stats(0, 0), ops.active(1, 0), ops.segLive(1, { bytes: 0, count: 0 })], true);
    return { stats: { count: 0, bytes: 0 }, active: { seg: 1, end: 0 }, live: new Map([[1, { bytes: 0, count: 0 }]]), sealed: new Map() };
  }
  if (meta.format !== INDEX_FORMAT) throw new Error(`block store ${index.location}: unknown format ${meta.format}`);
  if (!meta.active || !meta.stats) throw new Error(`block store ${index.location}: index lacks its committed end or stats`);
  const active = meta.active;
  const live = await index.segLive();
  if (!files.has(active.seg)) throw new Error(`block store ${files.dir}: active segment ${active.seg} is missing`);
  const size = await files.size(active.seg);
  if (size > active.end) {
    // Up to the next 4 KiB boundary it may be the zeros a direct append pads with: not worth a warning.
    if (!onlyPadding(size, active.end)) log.warn(`segment ${active.seg}: dropping ${size - active.end} unacknowledged bytes past the committed end ${active.end}`);
    await files.truncate(active.seg, active.end);
  } else if (size < active.end) {
    log.error(`segment ${active.seg} is ${active.end - size} bytes shorter than its committed end: blocks at its end will read as corrupt`);
  }
  const sealed = new Map<number, number>();
  for (const seg of files.numbers) {
    if (seg === active.seg) continue;
    if (!live.has(seg)) {
      log.warn(`segment ${seg}: not in the index (an interrupted compaction or roll), removing it`);
      await files.retire(seg);
      continue;
    }
    sealed.set(seg, (await stat(files.path(seg))).size);
  }
  return { stats: meta.stats, active, live, sealed };
}
