import type { BlockId } from '../../shared/types.js';

/**
 * Bytes of blocks this mount fetched recently, shared by every open file of the mount and kept
 * across opens. Blocks are immutable and their ids are never reused, so a cached byte of a block id
 * is right forever: close-to-open consistency comes from the chunk layouts (FileReader revalidates
 * them on open), which say which blocks a file's bytes are in, never from this cache.
 *
 * The cache holds CACHE_UNIT_BYTES-aligned pieces of blocks (the node verifies 64 KiB ranges, so a
 * smaller read costs it the same). A miss fetches the aligned `fetchBytes` around it (clipped to the
 * part of the block the caller knows exists), so nearby random reads find their bytes here. Memory is
 * bounded by the budget (bytes of pieces held). Eviction is second-chance FIFO (CLOCK): a hit only
 * sets a bit, and the oldest piece goes unless it was hit since it last came round, so a hit costs no
 * reordering of a big Map and a working set as large as the budget stays (two generations kept only
 * half of it for sure).
 *
 * The budget counts the bytes the cache keeps alive, not only the bytes it can serve: a piece is a
 * view of the buffer its fetch returned (itself a view of the received frame), so a 64 KiB piece of a
 * 4 MiB sequential fetch that outlives its neighbours (a hit gave it a second chance) would keep all
 * 4 MiB alive. Such a piece is copied out when it is kept past its neighbours, and a fetch much
 * smaller than the buffer it is a view of (a small reply in a socket read) is copied when inserted.
 */
export const CACHE_UNIT_BYTES = 64 * 1024;
/** What one mount may hold, bytes (pieces of blocks). */
export const CACHE_BUDGET_BYTES_DEFAULT = 128 * 1024 * 1024;
/** What a random miss fetches around the bytes asked for: aligned, a multiple of CACHE_UNIT_BYTES. */
export const MISS_FETCH_BYTES_DEFAULT = 64 * 1024;

interface Piece {
  start: number; // within the unit, inclusive
  end: number; // within the unit, exclusive
  buf: Uint8Array; // bytes [start, end) of the unit
  ref: boolean; // hit since it last came round
}

/** Fetches [off, off+len) of a block; must return exactly len bytes. */
export type FetchRange = (off: number, len: number) => Promise<Uint8Array>;

export class BlockCache {
  /** In insertion order (the FIFO), keyed `${block}@${unit}`. */
  private readonly pieces = new Map<string, Piece>();
  private held = 0;
  private readonly inflight = new Map<string, Promise<void>>();
  readonly stats = { hits: 0, misses: 0, fetches: 0, fetchedBytes: 0 };

  constructor(readonly budgetBytes = CACHE_BUDGET_BYTES_DEFAULT, readonly fetchBytes = MISS_FETCH_BYTES_DEFAULT) {}

  /**
   * Copies bytes [off, off + out.length) of block `id` into `out`, from the cache where it holds
   * them, else fetched. [lo, hi) is a part of the block known to exist (a slice names it): fetches
   * never go past it, since a ranged get past the block's end is an error.
   */
  async read(id: BlockId, off: number, out: Uint8Array, lo: number, hi: number, fetch: FetchRange): Promise<void> {
    const end = off + out.byteLength;
    for (let attempt = 0; ; attempt++) {
      const missing = this.copyHits(id, off, end, out, attempt === 0); // a piece this read just fetched is not a hit
      if (attempt === 0) this.stats[missing === null ? 'hits' : 'misses']++;
      if (missing === null) return;
      if (attempt >= 2 || this.budgetBytes <= 0) {
        // Evicted again at once (a budget smaller than the reads): fetch straight into out.
        out.set(await fetch(off, out.byteLength));
        return;
      }
      await this.fill(id, missing.from, missing.to, lo, hi, fetch);
    }
  }

  /**
   * Bytes [off, off + len) of block `id` as one view of the buffer a fetch returned, without copying
   * them (a sequential read unit that one block covers), or null when the cache holds them only in
   * pieces of different fetches (the caller then copies them with read()). The view must not be
   * written to: its bytes are the cache's. It may keep the whole fetched buffer alive, which is what
   * the caller's own copy would have cost.
   */
  async view(id: BlockId, off: number, len: number, lo: number, hi: number, fetch: FetchRange): Promise<Buffer | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const span = this.span(id, off, off + len, attempt === 0);
      if (attempt === 0) this.stats[span === undefined ? 'misses' : 'hits']++;
      if (span !== undefined) return span;
      // Partly cached: read() fetches only what is missing, and copies.
      if (this.budgetBytes <= 0 || (attempt === 0 && this.holdsAny(id, off, off + len))) return null;
      await this.fill(id, off, off + len, lo, hi, fetch);
    }
    return null;
  }

  /**
   * The cached pieces of [off, end) as one view when they are contiguous in one buffer; null when all
   * are cached but not contiguous; undefined when some are missing.
   */
  private span(id: BlockId, off: number, end: number, touch: boolean): Buffer | null | undefined {
    let buf: ArrayBufferLike | null = null, start = 0, next = 0, contiguous = true;
    for (let u = Math.floor(off / CACHE_UNIT_BYTES); u * CACHE_UNIT_BYTES < end; u++) {
      const base = u * CACHE_UNIT_BYTES;
      const a = Math.max(off, base) - base, b = Math.min(end, base + CACHE_UNIT_BYTES) - base;
      const p = this.get(id, u, touch);
      if (!p || p.start > a || p.end < b) return undefined;
      const at = p.buf.byteOffset + (a - p.start);
      if (buf === null) {
        buf = p.buf.buffer;
        start = at;
      } else if (p.buf.buffer !== buf || at !== next) contiguous = false;
      next = at + (b - a);
    }
    return contiguous && buf !== null ? Buffer.from(buf, start, end - off) : null;
  }

  private holdsAny(id: BlockId, off: number, end: number): boolean {
    for (let u = Math.floor(off / CACHE_UNIT_BYTES); u * CACHE_UNIT_BYTES < end; u++) if (this.pieces.has(`${id}@${u}`)) return true;
    return false;
  }

  /** Drops everything (tests; a mount that wants its memory back). */
  clear(): void {
    this.pieces.clear();
    this.held = 0;
  }

  get bytes(): number {
    return this.held;
  }

  /** Bytes of the buffers the pieces keep alive (each counted once); tests compare it with the budget. */
  retainedBytes(): number {
    const bufs = new Set<ArrayBufferLike>();
    for (const p of this.pieces.values()) bufs.add(p.buf.buffer);
    let n = 0;
    for (const b of bufs) n += b.byteLength;
    return n;
  }

  /** Copies what is cached; returns the span from the first to the last byte not cached, or null. */
  private copyHits(id: BlockId, off: number, end: number, out: Uint8Array, touch: boolean): { from: number; to: number } | null {
    let from = -1, to = -1;
    for (let u = Math.floor(off / CACHE_UNIT_BYTES); u * CACHE_UNIT_BYTES < end; u++) {
      const base = u * CACHE_UNIT_BYTES;
      const a = Math.max(off, base) - base, b = Math.min(end, base + CACHE_UNIT_BYTES) - base;
      const p = this.get(id, u, touch);
      if (p && p.start <= a && p.end >= b) {
        out.set(p.buf.subarray(a - p.start, b - p.start), base + a - off);
        continue;
      }
      if (from < 0) from = base + a;
      to = base + b;
    }
    return from < 0 ? null : { from, to };
  }

  /** Fetches the aligned span around [from, to) within [lo, hi) once, however many readers want it. */
  private async fill(id: BlockId, from: number, to: number, lo: number, hi: number, fetch: FetchRange): Promise<void> {
    const a = Math.max(lo, Math.min(from, Math.floor(from / this.fetchBytes) * this.fetchBytes));
    const b = Math.min(hi, Math.max(to, Math.ceil(to / this.fetchBytes) * this.fetchBytes));
    const key = `${id}@${a}-${b}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = fetch(a, b - a).then((buf) => this.insert(id, a, buf));
      this.inflight.set(key, p);
      void p.finally(() => this.inflight.delete(key)).catch(() => {});
      this.stats.fetches++;
      this.stats.fetchedBytes += b - a;
    }
    await p;
  }

  /** Bytes of a block that arrived some other way (an open's reply): cached like a fetch's. */
  offer(id: BlockId, off: number, buf: Uint8Array): void {
    this.insert(id, off, buf);
  }

  private insert(id: BlockId, off: number, buf: Uint8Array): void {
    if (pinsMore(buf)) buf = new Uint8Array(buf); // own bytes: do not keep the rest of the frame alive
    const end = off + buf.byteLength;
    for (let u = Math.floor(off / CACHE_UNIT_BYTES); u * CACHE_UNIT_BYTES < end; u++) {
      const base = u * CACHE_UNIT_BYTES;
      const a = Math.max(off, base) - base, b = Math.min(end, base + CACHE_UNIT_BYTES) - base;
      const cur = this.get(id, u, false);
      if (cur && cur.start <= a && cur.end >= b) continue; // already holds at least this
      this.set(`${id}@${u}`, { start: a, end: b, buf: buf.subarray(base + a - off, base + b - off), ref: false });
    }
  }

  private get(id: BlockId, u: number, touch: boolean): Piece | undefined {
    const p = this.pieces.get(`${id}@${u}`);
    if (p && touch) p.ref = true;
    return p;
  }

  private set(key: string, p: Piece): void {
    const prev = this.pieces.get(key);
    if (prev) {
      this.held -= prev.end - prev.start;
      this.pieces.delete(key);
    }
    this.pieces.set(key, p);
    this.held += p.end - p.start;
    // Each round evicts the oldest piece or clears its bit and moves it to the end; every bit is clear
    // after one sweep, so this ends.
    while (this.held > this.budgetBytes) {
      const [k, q] = this.pieces.entries().next().value!;
      this.pieces.delete(k);
      // The newcomer comes round too once every older piece was moved behind it: it stays, unless alone.
      if ((q.ref || q === p) && this.pieces.size > 0) {
        q.ref = false;
        if (pinsMore(q.buf)) q.buf = new Uint8Array(q.buf); // its neighbours go before it: keep just its bytes
        this.pieces.set(k, q);
      } else this.held -= q.end - q.start;
    }
  }
}

/** A view that keeps a buffer more than twice its size alive. */
function pinsMore(v: Uint8Array): boolean {
  return v.buffer.byteLength > 2 * v.byteLength;
}

const caches = new WeakMap<object, BlockCache>();

/** The mount's cache: one per cluster connection, so every file and handle of a mount shares it. */
export function blockCacheFor(cluster: object): BlockCache {
  let c = caches.get(cluster);
  if (!c) {
    c = new BlockCache(envBytes('TIDEFS_BLOCK_CACHE_BYTES') ?? CACHE_BUDGET_BYTES_DEFAULT, envBytes('TIDEFS_READ_MISS_BYTES') ?? MISS_FETCH_BYTES_DEFAULT);
    caches.set(cluster, c);
  }
  return c;
}

function envBytes(name: string): number | undefined {
  const v = typeof process === 'undefined' ? undefined : process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}
