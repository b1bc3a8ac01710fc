import { assert } from '../../shared/assert.js';
import { isBlockId } from '../../shared/block-id.js';
import { BLOCK_BYTES_MAX } from '../../shared/limits.js';
import type { BlockId } from '../../shared/types.js';
import {
  BlockConflictError, BlockCorruptError, BlockStoreClosedError, clampRange, sameBytes, type BlockEntry,
  type BlockStore,
} from './block-store.js';
import { checksum } from './record.js';

/**
 * An in-memory BlockStore for tests and simulations, with the LevelDB store's semantics (same errors,
 * same conflict and repair rules) and faults to inject:
 *  - corrupt(id): flip a stored byte; the next get throws BlockCorruptError.
 *  - failNext(op, n): the next n calls of an op reject with an I/O error and change nothing.
 *  - holdSyncs()/releaseSyncs(): writes change what reads see at once but resolve only on release,
 *    as a write sits in the page cache before its fsync.
 *  - crash(): loses every unsynced write, rejects their callers, closes this instance and returns the
 *    store a restarted node would open (what was synced, nothing else).
 * No clock of its own: storedAtMs comes from the injected `now`.
 */
interface Rec {
  data: Uint8Array;
  crc: number;
  storedAtMs: number;
}
type FaultOp = 'put' | 'get' | 'has' | 'delete' | 'list';
interface Pending { toDisk(): void; resolve(): void; reject(e: unknown): void }

export class InjectedFaultError extends Error {
  readonly code = 'EIO';
  constructor(op: string) {
    super(`injected ${op} failure`);
    this.name = 'InjectedFaultError';
  }
}

export class MemBlockStore implements BlockStore {
  private readonly visible: Map<BlockId, Rec>;
  private readonly faults = new Map<FaultOp, number>();
  private pending: Pending[] = [];
  private held = false;
  private closed = false;
  private bytes = 0;

  constructor(private readonly opts: { now?: () => number } = {}, private readonly durable = new Map<BlockId, Rec>()) {
    this.visible = new Map(durable);
    for (const r of this.visible.values()) this.bytes += r.data.length;
  }

  // ---- faults ----

  /** Flips one byte of the stored copy (on "disk" and in view); a no-op for a missing or empty block. */
  corrupt(id: BlockId, at = 0): void {
    for (const m of [this.durable, this.visible]) {
      const r = m.get(id);
      if (!r || r.data.length === 0) continue;
      const data = Uint8Array.from(r.data);
      data[at % data.length] ^= 0xff;
      m.set(id, { ...r, data });
    }
  }
  failNext(op: FaultOp, n = 1): void {
    this.faults.set(op, (this.faults.get(op) ?? 0) + n);
  }
  holdSyncs(): void {
    this.held = true;
  }
  releaseSyncs(): void {
    this.held = false;
    this.flush();
  }
  /** Writes made but not yet synced. */
  unsynced(): number {
    return this.pending.length;
  }
  crash(): MemBlockStore {
    const lost = this.pending;
    this.pending = [];
    this.closed = true;
    for (const p of lost) p.reject(new BlockStoreClosedError('crashed before sync'));
    return new MemBlockStore(this.opts, new Map(this.durable));
  }

  // ---- BlockStore ----

  async put(id: BlockId, data: Uint8Array): Promise<void> {
    assert(isBlockId(id), `put: bad block id ${JSON.stringify(id)}`);
    assert(data.length <= BLOCK_BYTES_MAX, `put: block ${id} of ${data.length} bytes exceeds BLOCK_BYTES_MAX`);
    this.enter('put');
    const cur = this.visible.get(id);
    if (cur && this.intact(cur)) {
      if (!sameBytes(cur.data, data)) throw new BlockConflictError(id);
      // The same bytes: done, but only once the first put's write is synced too.
      return this.durable.get(id) === cur ? undefined : this.afterSync(() => {});
    }
    // Absent, or a corrupt copy that a put of the block repairs.
    const rec: Rec = { data: Uint8Array.from(data), crc: checksum(data), storedAtMs: this.opts.now?.() ?? 0 };
    this.bytes += rec.data.length - (cur?.data.length ?? 0);
    this.visible.set(id, rec);
    return this.afterSync(() => this.durable.set(id, rec));
  }

  async get(id: BlockId, off?: number, len?: number): Promise<Uint8Array | null> {
    this.enter('get');
    const r = this.visible.get(id);
    if (!r) return null;
    if (!this.intact(r)) throw new BlockCorruptError(id, 'crc32 mismatch');
    const { start, end } = clampRange(r.data.length, off, len);
    return r.data.slice(start, end);
  }

  async has(id: BlockId): Promise<boolean> {
    this.enter('has');
    return this.visible.has(id);
  }

  async delete(ids: BlockId[]): Promise<void> {
    this.enter('delete');
    const gone: BlockId[] = [];
    for (const id of ids) {
      const r = this.visible.get(id);
      if (!r) continue;
      this.visible.delete(id);
      this.bytes -= r.data.length;
      gone.push(id);
    }
    if (gone.length === 0) return;
    return this.afterSync(() => { for (const id of gone) this.durable.delete(id); });
  }

  async list(opts: { after?: BlockId; limit?: number } = {}): Promise<BlockEntry[]> {
    this.enter('list');
    const after = opts.after;
    const ids = [...this.visible.keys()].filter((id) => after === undefined || id > after).sort();
    return ids.slice(0, opts.limit ?? 1000).map((id) => {
      const r = this.visible.get(id)!;
      return { id, size: r.data.length, storedAtMs: r.storedAtMs };
    });
  }

  stats(): { count: number; bytes: number } {
    return { count: this.visible.size, bytes: this.bytes };
  }

  async close(): Promise<void> {
    this.flush(); // a clean close syncs, as the LevelDB store finishes its queue
    this.closed = true;
  }

  // ---- internals ----

  private enter(op: FaultOp): void {
    if (this.closed) throw new BlockStoreClosedError(op);
    const n = this.faults.get(op) ?? 0;
    if (n > 0) {
      this.faults.set(op, n - 1);
      throw new InjectedFaultError(op);
    }
  }

  private intact(r: Rec): boolean {
    return checksum(r.data) === r.crc;
  }

  private afterSync(toDisk: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ toDisk, resolve, reject });
      if (!this.held) queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    if (this.held) return;
    const done = this.pending;
    this.pending = [];
    for (const p of done) {
      p.toDisk();
      p.resolve();
    }
  }
}
