import type { Bytes, Kv, KvOp, KvRange, KvSnapshot } from './kv.js';

/** Keys remembered by CachedKv (values are small records: ~64k of them is a few tens of MB). */
export const KV_CACHE_ENTRIES_MAX = 65_536;
/**
 * And bytes of values: a chunk record grows to ~290 KB at SLICES_PER_CHUNK_MAX (4096) slices, so the
 * entry count alone no longer bounds the cache (64k such records would be ~19 GB).
 */
export const KV_CACHE_BYTES_MAX = 64 * 1024 * 1024;

/**
 * A write-through cache of point reads over a Kv: inode records, directory entries, sessions and
 * counters are read by nearly every op, and each LevelDB get is a round trip through the thread pool.
 * Absent keys are remembered too (a create looks its name up first). A write updates the cache
 * before it reaches the store, so the cache never shows less than the store does; what it shows
 * early is a batch of committed entries already being written (the node stops if that write fails).
 * A get that raced with a write does not fill the cache, so a stale value is never kept. Ranges and
 * snapshots go to the store; clear() forgets everything.
 */
export class CachedKv implements Kv {
  /**
   * Two generations instead of an LRU list: a hit in `old` moves the key to `cur`, and when `cur` is
   * full it becomes `old` (the previous `old` is dropped). Deleting and re-adding a key to keep a
   * Map in LRU order was measured at ~40 µs per hit with 10k keys (V8 rehashes the holes), 130 µs
   * at 40k; this is O(1). Keys are latin1 strings; null = known absent. `cur` shadows `old`.
   */
  private cur = new Map<string, Bytes | null>();
  private old = new Map<string, Bytes | null>();
  /** Bytes of the values put into `cur` since it was new (a key put twice counts twice: it rotates early). */
  private curBytes = 0;
  /** Bumped by every write and clear: a read that saw it move may hold an older value. */
  private gen = 0;

  constructor(private readonly kv: Kv, private readonly entriesMax = KV_CACHE_ENTRIES_MAX, private readonly bytesMax = KV_CACHE_BYTES_MAX) {}

  /** Bytes of the values held (both generations): at most bytesMax plus one value. */
  heldBytes(): number {
    let n = 0;
    for (const m of [this.cur, this.old]) for (const v of m.values()) n += v?.byteLength ?? 0;
    return n;
  }

  async get(key: Bytes): Promise<Bytes | undefined> {
    const k = key.toString('latin1');
    let hit = this.cur.get(k); // null (known absent) must not fall through to an older value
    if (hit === undefined) hit = this.promote(k);
    if (hit !== undefined) return hit ?? undefined;
    const gen = this.gen;
    const v = await this.kv.get(key);
    if (gen === this.gen) this.remember(k, v ?? null);
    return v;
  }

  range(r: KvRange): AsyncIterable<[Bytes, Bytes]> {
    return this.kv.range(r);
  }

  async write(ops: KvOp[], opts?: { sync?: boolean }): Promise<void> {
    this.gen++;
    for (const op of ops) this.remember(op.key.toString('latin1'), op.type === 'put' ? op.value : null);
    try {
      await this.kv.write(ops, opts);
    } catch (e) {
      this.forget();
      throw e;
    }
  }

  snapshot(): KvSnapshot {
    return this.kv.snapshot();
  }

  async clear(r: KvRange): Promise<void> {
    this.forget();
    try {
      await this.kv.clear(r);
    } finally {
      this.forget(); // gets that ran during the clear may have cached keys it removed
    }
  }

  close(): Promise<void> {
    this.forget();
    return this.kv.close();
  }

  private promote(k: string): Bytes | null | undefined {
    const v = this.old.get(k);
    if (v !== undefined) this.remember(k, v);
    return v;
  }

  private remember(k: string, v: Bytes | null): void {
    this.cur.set(k, v);
    this.curBytes += v?.byteLength ?? 0;
    if (this.cur.size < this.entriesMax / 2 && this.curBytes < this.bytesMax / 2) return;
    this.old = this.cur;
    this.cur = new Map();
    this.curBytes = 0;
  }

  private forget(): void {
    this.gen++;
    this.cur = new Map();
    this.old = new Map();
    this.curBytes = 0;
  }
}
