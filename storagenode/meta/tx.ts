import type { Time } from '../../shared/time.js';
import { prefixRange, type Bytes, type KvOp, type KvRange, type KvReader } from './kv.js';
import { inoOfKey, K, nameOfKey } from './keys.js';
import { packChunk, unpackChunk } from './chunk-codec.js';
import { pack, unpack, type ChunkRec, type Counters, type EntryRec, type InodeRec } from './records.js';

/**
 * What the state machine remembers between entries to skip work whose outcome it already knows; it
 * never changes a result, so replicas with cold hints compute the same entries.
 */
export interface TxHints {
  /** session → a lower bound on the smallest seq with a recorded reply (apply.ts recordReply). */
  dedupLow: Map<string, number>;
}

/** What one applied entry changed that clients may cache (shared/protocol ChangedPush), and whose request it was. */
export interface EntryChanges {
  /** The session whose request the entry carries; undefined for node-proposed ops (expireSessions). */
  session: string | undefined;
  inos: number[];
  entries: [number, string][];
}

// 'i/<ino>' inode records, 'd/<parent>/<name>' entries, 'x/<ino>/<name>' xattrs (keys.ts)
const SLASH = 0x2f, I_KEY = 0x69, D_KEY = 0x64, X_KEY = 0x78;

/**
 * The writes of one log entry, buffered over the store: reads see the entry's own writes, and the
 * whole entry reaches the store as one batch (or, when the op fails, nothing but the applied index).
 */
export class Tx {
  private writes = new Map<string, Bytes | null>(); // latin1 key → value, null = deleted
  private savedWrites: Map<string, Bytes | null> | undefined;
  private savedGrants = 0;
  /** Lock waiters this entry granted (or failed): the node pushes `lockGranted` to their clients once it is stored. */
  readonly lockGrants: { session: string; waiter: number }[] = [];

  constructor(private kv: KvReader, readonly now: Time, readonly index: number, readonly hints: TxHints = { dedupLow: new Map() }) {}

  async get(key: Bytes): Promise<Bytes | undefined> {
    const w = this.writes.get(key.toString('latin1'));
    if (w !== undefined) return w ?? undefined;
    return this.kv.get(key);
  }
  put(key: Bytes, value: Bytes): void {
    this.writes.set(key.toString('latin1'), value);
  }
  del(key: Bytes): void {
    this.writes.set(key.toString('latin1'), null);
  }

  /** Store entries merged with this entry's writes, in key order. */
  async *range(r: KvRange): AsyncGenerator<[Bytes, Bytes]> {
    // latin1 strings compare as the bytes do, so the bounds are checked without making Buffers.
    const gte = r.gte?.toString('latin1'), gt = r.gt?.toString('latin1'), lt = r.lt?.toString('latin1');
    const mine = [...this.writes.entries()]
      .filter(([k]) => (gte === undefined || k >= gte) && (gt === undefined || k > gt) && (lt === undefined || k < lt))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const { limit, ...bounds } = r;
    const full = () => limit !== undefined && n >= limit;
    let n = 0, j = 0;
    for await (const [key, value] of this.kv.range(bounds)) {
      const k = key.toString('latin1');
      while (j < mine.length && mine[j]![0] < k) {
        if (full()) return;
        const [mk, mv] = mine[j++]!;
        if (mv !== null) { n++; yield [Buffer.from(mk, 'latin1'), mv]; }
      }
      if (full()) return;
      if (j < mine.length && mine[j]![0] === k) {
        const mv = mine[j++]![1];
        if (mv !== null) { n++; yield [key, mv]; }
      } else {
        n++;
        yield [key, value];
      }
    }
    while (j < mine.length && !full()) {
      const [mk, mv] = mine[j++]!;
      if (mv !== null) { n++; yield [Buffer.from(mk, 'latin1'), mv]; }
    }
  }
  async *prefix(p: Bytes, limit?: number): AsyncGenerator<[Bytes, Bytes]> {
    yield* this.range(prefixRange(p, limit));
  }
  async isEmptyPrefix(p: Bytes): Promise<boolean> {
    for await (const _ of this.prefix(p, 1)) return false;
    return true;
  }

  /** Marks the point an op's writes start from, so a failing op can leave no trace. */
  mark(): void {
    this.savedWrites = new Map(this.writes);
    this.savedGrants = this.lockGrants.length;
  }
  rollback(): void {
    if (this.savedWrites) this.writes = this.savedWrites;
    this.savedWrites = undefined;
    this.lockGrants.length = this.savedGrants;
  }
  ops(): KvOp[] {
    return [...this.writes.entries()].map(([k, v]) => {
      const key = Buffer.from(k, 'latin1');
      return v === null ? { type: 'del', key } : { type: 'put', key, value: v };
    });
  }
  /** Adds this entry's writes to `batch`, the Tx of the entries stored together with it. */
  mergeInto(batch: Tx): void {
    for (const [k, v] of this.writes) batch.writes.set(k, v);
  }
  /**
   * What this entry's writes changed for clients, judged against the state before the entry (the
   * store under it): existing inode records written with different bytes or deleted, directories
   * whose entries changed, inodes whose xattrs changed, and existing names deleted or pointed
   * elsewhere. Read-only. A failed op was rolled back, so it reports nothing.
   */
  async changes(): Promise<{ inos: number[]; entries: [number, string][] }> {
    const inos = new Set<number>();
    const entries: [number, string][] = [];
    for (const [k, v] of this.writes) {
      if (k.charCodeAt(1) !== SLASH) continue;
      const c = k.charCodeAt(0);
      if (c !== I_KEY && c !== D_KEY && c !== X_KEY) continue;
      const key = Buffer.from(k, 'latin1');
      const before = await this.kv.get(key);
      if (before === undefined ? v === null : v !== null && before.equals(v)) continue; // unchanged
      const ino = inoOfKey(key); // the inode, the parent, or the xattr's inode
      if (c === I_KEY) {
        // A new inode is not listed: nobody can have cached a number never used before (nextIno only grows).
        if (before !== undefined) inos.add(ino);
      } else if (c === X_KEY) {
        inos.add(ino);
      } else {
        inos.add(ino); // the directory's content changed, even if its record did not (same clock tick)
        if (before !== undefined) entries.push([ino, nameOfKey(key)]);
      }
    }
    return { inos: [...inos], entries };
  }
  written(key: Bytes): boolean {
    return this.writes.has(key.toString('latin1'));
  }

  // Typed access to the records every op touches.
  async getVal<T>(key: Bytes): Promise<T | undefined> {
    const b = await this.get(key);
    return b === undefined ? undefined : unpack<T>(b);
  }
  putVal(key: Bytes, v: unknown): void {
    this.put(key, pack(v));
  }
  /** A chunk's slices in write order (chunk-codec.ts); none when the chunk has no record. */
  async getChunk(key: Bytes): Promise<ChunkRec> {
    const b = await this.get(key);
    return b === undefined ? [] : unpackChunk(b);
  }
  putChunk(key: Bytes, list: ChunkRec): void {
    this.put(key, packChunk(list));
  }
  getInode(ino: number): Promise<InodeRec | undefined> {
    return this.getVal<InodeRec>(K.inode(ino));
  }
  putInode(rec: InodeRec): void {
    this.putVal(K.inode(rec.ino), rec);
  }
  getEntry(parent: number, name: string): Promise<EntryRec | undefined> {
    return this.getVal<EntryRec>(K.entry(parent, name));
  }
  async counters(): Promise<Counters> {
    return (await this.getVal<Counters>(K.counters())) ?? { nextIno: 2, inodes: 1, bytes: 0 };
  }
  async bumpCounters(d: { inodes?: number; bytes?: number }): Promise<void> {
    const c = await this.counters();
    this.putVal(K.counters(), { ...c, inodes: c.inodes + (d.inodes ?? 0), bytes: c.bytes + (d.bytes ?? 0) });
  }
  async allocIno(): Promise<number> {
    const c = await this.counters();
    this.putVal(K.counters(), { ...c, nextIno: c.nextIno + 1, inodes: c.inodes + 1 });
    return c.nextIno;
  }
}
