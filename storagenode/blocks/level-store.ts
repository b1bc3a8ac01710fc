import { Level } from 'level';
import { assert } from '../../shared/assert.js';
import { isBlockId } from '../../shared/block-id.js';
import { BLOCK_BYTES_MAX } from '../../shared/limits.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import type { BlockId } from '../../shared/types.js';
import {
  BlockConflictError, BlockStoreClosedError, clampRange, sameBytes, type BlockEntry, type BlockStore,
} from './block-store.js';
import { checksum, decodeHeader, encodeHeader, encodeRecord, HEADER_BYTES, openRecord } from './record.js';
import { GroupCommitQueue, type Settle } from './group-commit.js';

/**
 * Key layout, one LevelDB per node's block store:
 *   v          format version ("1")
 *   s          stats: f64 count, f64 bytes; rewritten in every batch so it is exact after a crash
 *   m/<id>     the record header alone: has() and list() read 24 bytes instead of up to 4 MiB
 *   d/<id>     header + bytes (one key per block, so a read touches that block only)
 * Block ids sort by creation time, so list() walks blocks oldest first.
 */
const FORMAT = '1';
const META = 'm/';
const DATA = 'd/';
const META_END = 'm0'; // '0' follows '/': the end of the m/ range
const STATS = 's';
const VERSION = 'v';

export interface LevelBlockStoreOptions {
  path: string;
  /** fsync every batch (default true). False only to measure what durability costs. */
  sync?: boolean;
  /** Put concurrent requests into one synced batch (default true). False only to measure the gain. */
  groupCommit?: boolean;
  /** A batch stops taking requests past this many payload bytes, bounding memory and latency. */
  batchBytesMax?: number;
  /** LevelDB memtable size: a larger one flushes 4 MiB values to tables less often. */
  writeBufferBytes?: number;
  now?: () => number;
  log?: Logger;
}

type Db = Level<string, Buffer>;
type Op = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

interface PutReq { kind: 'put'; id: BlockId; data: Uint8Array; record: Buffer; done: Settle }
interface DelReq { kind: 'del'; ids: BlockId[]; done: Settle }
type Req = PutReq | DelReq;

/** What the batch being built believes about an id: its current size and bytes (null = absent). */
type View = Map<BlockId, { size: number; data: Uint8Array | null } | null>;

export class LevelBlockStore implements BlockStore {
  private readonly writes: GroupCommitQueue<Req>;
  private count = 0;
  private bytes = 0;
  private closed = false;
  private readonly sync: boolean;
  private readonly now: () => number;
  private readonly log: Logger;
  /** Batches written since open, and requests they carried: lets tests and the benchmark see grouping. */
  readonly commits = { batches: 0, requests: 0 };

  private constructor(private readonly db: Db, opts: LevelBlockStoreOptions) {
    this.sync = opts.sync ?? true;
    const batchBytesMax = opts.batchBytesMax ?? 64 * 1024 * 1024;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger;
    assert(batchBytesMax >= BLOCK_BYTES_MAX, 'a batch holds at least one block');
    this.writes = new GroupCommitQueue<Req>({
      commit: (batch) => this.commit(batch), bytesOf: (r) => (r.kind === 'put' ? r.data.length : 0),
      groupCommit: opts.groupCommit ?? true, batchBytesMax,
    });
  }

  static async open(opts: LevelBlockStoreOptions): Promise<LevelBlockStore> {
    // Blocks are mostly incompressible file data: snappy would spend CPU to save nothing.
    const db: Db = new Level<string, Buffer>(opts.path, {
      keyEncoding: 'utf8', valueEncoding: 'buffer', compression: false,
      writeBufferSize: opts.writeBufferBytes ?? 32 * 1024 * 1024, maxFileSize: 32 * 1024 * 1024,
    } as object);
    await db.open();
    const store = new LevelBlockStore(db, opts);
    try {
      await store.loadStats();
    } catch (e) {
      await db.close();
      throw e;
    }
    return store;
  }

  private async loadStats(): Promise<void> {
    const [version, stats] = await this.db.getMany([VERSION, STATS]);
    if (version === undefined) {
      await this.db.batch([{ type: 'put', key: VERSION, value: Buffer.from(FORMAT) }, statsOp(0, 0)], { sync: true } as object);
    } else if (version.toString() !== FORMAT) {
      throw new Error(`block store ${this.db.location}: unknown format ${version.toString()}`);
    } else if (stats !== undefined && stats.length === 16) {
      this.count = stats.readDoubleLE(0);
      this.bytes = stats.readDoubleLE(8);
      return;
    }
    // No stats key under a known format means an older layout or a hand-edited db: count once.
    if (version !== undefined) await this.recount();
  }

  /** Rebuilds the counters from the headers (24 bytes per block read, not the blocks). */
  async recount(): Promise<{ count: number; bytes: number }> {
    let count = 0, bytes = 0;
    for await (const [key, value] of this.db.iterator({ gte: META, lt: META_END })) {
      count++;
      bytes += this.header(key.slice(META.length), value).size;
    }
    await this.db.put(STATS, statsOp(count, bytes).value, { sync: true } as object);
    this.count = count;
    this.bytes = bytes;
    this.log.info(`recounted ${count} blocks, ${bytes} bytes`);
    return { count, bytes };
  }

  put(id: BlockId, data: Uint8Array): Promise<void> {
    assert(isBlockId(id), `put: bad block id ${JSON.stringify(id)}`);
    assert(data.length <= BLOCK_BYTES_MAX, `put: block ${id} of ${data.length} bytes exceeds BLOCK_BYTES_MAX`);
    const record = encodeRecord(data, checksum(data), this.now());
    return this.enqueue((done) => ({ kind: 'put', id, data: record.subarray(HEADER_BYTES), record, done }));
  }

  delete(ids: BlockId[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.enqueue((done) => ({ kind: 'del', ids: [...ids], done }));
  }

  async get(id: BlockId, off?: number, len?: number): Promise<Uint8Array | null> {
    this.checkOpen('get');
    const rec = await this.db.get(DATA + id);
    if (rec === undefined) return null;
    const { data } = openRecord(id, rec);
    const { start, end } = clampRange(data.length, off, len);
    return data.subarray(start, end);
  }

  async has(id: BlockId): Promise<boolean> {
    this.checkOpen('has');
    return (await this.db.get(META + id)) !== undefined;
  }

  async list(opts: { after?: BlockId; limit?: number } = {}): Promise<BlockEntry[]> {
    this.checkOpen('list');
    const out: BlockEntry[] = [];
    const range = opts.after === undefined ? { gte: META } : { gt: META + opts.after };
    const it = this.db.iterator({ ...range, lt: META_END, limit: opts.limit ?? 1000 });
    for await (const [key, value] of it) {
      const id = key.slice(META.length);
      const h = this.header(id, value);
      out.push({ id, size: h.size, storedAtMs: h.storedAtMs });
    }
    return out;
  }

  stats(): { count: number; bytes: number } {
    return { count: this.count, bytes: this.bytes };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Requests already queued were promised to callers: finish them before closing the db.
    await this.writes.idle();
    await this.db.close();
  }

  /**
   * A header that does not parse must not stop scans or writes: it reads as size 0 and as stored at the
   * end of time, so garbage collection never takes it for old, and a put of the block replaces it.
   */
  private header(id: BlockId, value: Buffer): { size: number; storedAtMs: number } {
    try {
      return decodeHeader(id, value);
    } catch (e) {
      this.log.warn(`${(e as Error).message} (index header)`);
      return { size: 0, storedAtMs: Number.MAX_SAFE_INTEGER };
    }
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new BlockStoreClosedError(what);
  }

  private enqueue(make: (done: Settle) => Req): Promise<void> {
    if (this.closed) return Promise.reject(new BlockStoreClosedError('write'));
    return this.writes.enqueue(make);
  }

  /** Decides every request of the batch against the stored state, then writes one batch. */
  private async commit(batch: Req[]): Promise<void> {
    const view = await this.loadView(batch);
    const ops: Op[] = [];
    const ok: Req[] = [];
    let count = this.count, bytes = this.bytes;
    for (const r of batch) {
      if (r.kind === 'del') {
        for (const id of r.ids) {
          const cur = view.get(id);
          if (!cur) continue;
          ops.push({ type: 'del', key: DATA + id }, { type: 'del', key: META + id });
          count--;
          bytes -= cur.size;
          view.set(id, null);
        }
        ok.push(r);
        continue;
      }
      const verdict = await this.judgePut(r, view.get(r.id) ?? null);
      if (verdict === 'conflict') { r.done.reject(new BlockConflictError(r.id)); continue; }
      ok.push(r);
      if (verdict === 'same') continue;
      const old = view.get(r.id);
      if (old) { count--; bytes -= old.size; } // 'replace': a corrupt copy gives way
      ops.push({ type: 'put', key: DATA + r.id, value: r.record },
        { type: 'put', key: META + r.id, value: encodeHeader(decodeHeader(r.id, r.record)) });
      count++;
      bytes += r.data.length;
      view.set(r.id, { size: r.data.length, data: r.data });
    }
    if (ops.length > 0) {
      ops.push(statsOp(count, bytes));
      await this.db.batch(ops, { sync: this.sync } as object);
      this.commits.batches++;
    }
    this.commits.requests += batch.length;
    this.count = count;
    this.bytes = bytes;
    for (const r of ok) r.done.resolve();
  }

  /** Reads the headers of every id the batch touches, in one getMany. */
  private async loadView(batch: Req[]): Promise<View> {
    const ids = [...new Set(batch.flatMap((r) => (r.kind === 'put' ? [r.id] : r.ids)))];
    const heads = await this.db.getMany(ids.map((id) => META + id));
    const view: View = new Map();
    ids.forEach((id, i) => {
      const h = heads[i];
      view.set(id, h === undefined ? null : { size: this.header(id, h).size, data: null });
    });
    return view;
  }

  /**
   * 'same' for an idempotent re-put (a retry, or a second writer of the same block), 'conflict' for
   * different bytes under a good block, 'write' otherwise. Only a re-put reads the stored block.
   */
  private async judgePut(r: PutReq, cur: { size: number; data: Uint8Array | null } | null): Promise<'same' | 'conflict' | 'write'> {
    if (cur === null) return 'write';
    let stored = cur.data;
    if (stored === null) {
      const rec = await this.db.get(DATA + r.id);
      if (rec === undefined) return 'write';
      try {
        stored = openRecord(r.id, rec).data;
      } catch (e) {
        this.log.warn(`put ${r.id}: replacing a corrupt copy (${(e as Error).message})`);
        return 'write';
      }
    }
    return sameBytes(stored, r.data) ? 'same' : 'conflict';
  }
}

function statsOp(count: number, bytes: number): Op & { value: Buffer } {
  const value = Buffer.alloc(16);
  value.writeDoubleLE(count, 0);
  value.writeDoubleLE(bytes, 8);
  return { type: 'put', key: STATS, value };
}
