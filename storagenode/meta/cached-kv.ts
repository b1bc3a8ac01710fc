import type { Bytes, Kv, KvOp, KvRange, KvSnapshot } from './kv.js';

/** Keys remembered by CachedKv (values are small records: ~64k of them is a few tens of MB). */
export const KV_CACHE_ENTRIES_MAX = 65_536;

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
  private readonly cache = new Map<string, Bytes | null>(); // latin1 key → value, null = absent; LRU order
  /** Bumped by every write and clear: a read that saw it move may hold an older value. */
  private gen = 0;

  constructor(private readonly kv: Kv, private readonly entriesMax = KV_CACHE_ENTRIES_MAX) {}

  async get(key: Bytes): Promise<Bytes | undefined> {
    const k = key.toString('latin1');
    const hit = this.cache.get(k);
    if (hit !== undefined) {
      this.cache.delete(k); // most recently used goes last
      this.cache.set(k, hit);
      return hit ?? undefined;
    }
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

  private remember(k: string, v: Bytes | null): void {
    this.cache.delete(k);
    this.cache.set(k, v);
    if (this.cache.size > this.entriesMax) this.cache.delete(this.cache.keys().next().value!);
  }

  private forget(): void {
    this.gen++;
    this.cache.clear();
  }
}
