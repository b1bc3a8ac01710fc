import { BLOCK_BYTES_MAX, CHUNK_BYTES } from '../../shared/limits.js';
import type { BlockId, Slice } from '../../shared/types.js';
import { BlockMissingError } from '../rpc/block-io.js';
import { blockCacheFor, type BlockCache } from './block-cache.js';
import { resolveSlices, splitByChunk } from './slices.js';
import type { VfsOptions } from './types.js';

/**
 * Read-ahead and caching work in units of this many file bytes, aligned: one block, because a file
 * written sequentially has its blocks at block-aligned offsets, so a unit is one blockGet (1 MiB units
 * cost four requests per block, and the LevelDB store reads and checksums the whole block for each).
 */
export const READ_UNIT_BYTES = BLOCK_BYTES_MAX;
/** 8 units = 32 MiB per open inode at most: read-ahead plus what the reader is consuming. */
const UNITS_CACHED_MAX = 8;
/** Units fetched ahead of a sequential reader: enough to keep the three replicas busy at once. */
const READAHEAD_BYTES_DEFAULT = 4 * READ_UNIT_BYTES;
/** TIDEFS_READAHEAD_BYTES: the read-ahead depth for experiments (the mount has no flag for it). */
const READAHEAD_ENV = (() => {
  const n = Number(typeof process === 'undefined' ? '' : process.env.TIDEFS_READAHEAD_BYTES ?? '');
  return Number.isFinite(n) && n > 0 ? n : undefined;
})();

/**
 * Asks a random read to assemble the aligned `unit`-byte window around its bytes (clipped to the
 * size); when it did, `buf` holds the window and `off` where it starts (the read's bytes are a view
 * of it).
 */
export interface Around {
  unit: number;
  off?: number;
  buf?: Buffer;
}

interface Layout {
  slices: Slice[];
  size: number;
  version: number;
}

/** Per layout, the part of each block its slices name: bytes there exist, so a fetch may take them. */
const extentsOf = new WeakMap<Layout, Map<string, { lo: number; hi: number }>>();
function blockExtents(l: Layout): Map<string, { lo: number; hi: number }> {
  let m = extentsOf.get(l);
  if (!m) {
    m = new Map();
    for (const s of l.slices) {
      const e = m.get(s.block);
      if (e) {
        e.lo = Math.min(e.lo, s.off);
        e.hi = Math.max(e.hi, s.off + s.len);
      } else m.set(s.block, { lo: s.off, hi: s.off + s.len });
    }
    extentsOf.set(l, m);
  }
  return m;
}

/**
 * Committed contents of one inode as this mount last saw them: chunk layouts (readChunk) and a small
 * cache of assembled read units that sequential reads fill ahead of the reader. A fetch is put in
 * the cache when it starts, so invalidate() also drops fetches still under way: nothing stale is kept.
 */
export class FileReader {
  private layouts = new Map<number, Promise<Layout>>();
  private units = new Map<number, Promise<Buffer>>();
  /** The inode version the cached layouts belong to (close-to-open revalidation compares it). */
  version = -1;
  private nextSeqOff = -1;
  private seqRun = 0;

  /** Block bytes shared by every file of this mount (block-cache.ts); blocks are immutable, so safe across opens. */
  private readonly cache: BlockCache;

  constructor(readonly ino: number, private readonly o: VfsOptions) {
    this.cache = blockCacheFor(o.cluster);
  }

  /** Drops cached layouts and units (all, or those of the given chunks). */
  invalidate(chunks?: Set<number>): void {
    if (!chunks) {
      this.layouts.clear();
      this.units.clear();
      return;
    }
    for (const c of chunks) this.layouts.delete(c);
    for (const u of [...this.units.keys()]) {
      if (chunks.has(Math.floor((u * READ_UNIT_BYTES) / CHUNK_BYTES))) this.units.delete(u);
    }
  }

  /** Close-to-open: on open, layouts of an older version of the inode are dropped. */
  revalidate(version: number): void {
    if (version !== this.version) this.invalidate();
    this.version = version;
  }

  /** A layout that came with the open (OpenLayout): used if it is of the version this reader holds. */
  offerLayout(chunk: number, l: Layout): void {
    if (l.version === this.version && !this.layouts.has(chunk)) this.layouts.set(chunk, Promise.resolve(l));
  }

  /** Block bytes that came with the open (OpenLayout.blocks0): immutable, so always right to cache. */
  offerBytes(block: BlockId, off: number, data: Uint8Array): void {
    this.cache.offer(block, off, data);
  }

  private layout(chunk: number): Promise<Layout> {
    let p = this.layouts.get(chunk);
    if (!p) {
      p = this.o.cluster.meta('readChunk', { ino: this.ino, chunk });
      this.layouts.set(chunk, p);
      p.catch(() => { if (this.layouts.get(chunk) === p) this.layouts.delete(chunk); });
    }
    return p;
  }

  /**
   * The committed bytes of [off, off+len) (the caller clips to the file size). Sequential readers are
   * served from whole units, and the units after them are fetched in the background.
   */
  async read(off: number, len: number, size: number, around?: Around, shared = false): Promise<Buffer> {
    const sequential = off === this.nextSeqOff || off === 0;
    this.seqRun = sequential ? this.seqRun + 1 : 0;
    this.nextSeqOff = off + len;
    // Random small reads fetch just their bytes, unless read-ahead already holds (or is fetching) them.
    if (!sequential && len < READ_UNIT_BYTES / 2 && !this.units.has(Math.floor(off / READ_UNIT_BYTES))) {
      if (!around) return this.assemble(off, len);
      // The aligned window around them costs the same (the block cache fetches it whole): the caller
      // hands the rest to the kernel's page cache.
      const w0 = Math.floor(off / around.unit) * around.unit;
      const w1 = Math.min(size, Math.ceil((off + len) / around.unit) * around.unit);
      if (w0 >= w1 || off + len > w1) return this.assemble(off, len);
      around.off = w0;
      around.buf = await this.assemble(w0, w1 - w0);
      return around.buf.subarray(off - w0, off - w0 + len);
    }
    const first = Math.floor(off / READ_UNIT_BYTES);
    const last = Math.floor((off + len - 1) / READ_UNIT_BYTES);
    if (shared && first === last) {
      // Within one unit: a view of it, not a copy (the caller copies it into the FUSE reply anyway).
      const b = await this.unit(first, size);
      const a = off - first * READ_UNIT_BYTES;
      if (this.seqRun >= 2) this.readAhead(last + 1, size);
      if (a + len <= b.byteLength) return b.subarray(a, a + len);
      const out = Buffer.alloc(len);
      b.copy(out, 0, Math.min(a, b.byteLength));
      return out;
    }
    const out = Buffer.alloc(len);
    const parts = [];
    for (let u = first; u <= last; u++) parts.push(this.unit(u, size).then((b) => ({ u, b })));
    for (const { u, b } of await Promise.all(parts)) {
      const uOff = u * READ_UNIT_BYTES;
      const a = Math.max(off, uOff);
      const e = Math.min(off + len, uOff + b.byteLength);
      if (e > a) b.copy(out, a - off, a - uOff, e - uOff);
    }
    if (this.seqRun >= 2) this.readAhead(last + 1, size);
    return out;
  }

  private readAhead(fromUnit: number, size: number): void {
    const units = Math.max(1, Math.floor((this.o.readaheadBytes ?? READAHEAD_ENV ?? READAHEAD_BYTES_DEFAULT) / READ_UNIT_BYTES));
    for (let u = fromUnit; u < fromUnit + units && u * READ_UNIT_BYTES < size; u++) void this.unit(u, size).catch(() => {});
  }

  /** Unit u of the file: its bytes must not be written to (they may be the block cache's, see assembleUnit). */
  private unit(u: number, size: number): Promise<Buffer> {
    let p = this.units.get(u);
    if (!p) {
      const off = u * READ_UNIT_BYTES;
      p = this.assembleUnit(off, Math.max(0, Math.min(READ_UNIT_BYTES, size - off)));
      this.units.set(u, p);
      p.catch(() => { if (this.units.get(u) === p) this.units.delete(u); });
      while (this.units.size > UNITS_CACHED_MAX) this.units.delete(this.units.keys().next().value!);
    }
    return p;
  }

  /**
   * A unit that one block range covers (a file written sequentially) is a view of the block cache's
   * fetched buffer, not a copy of it (perf-reads.md, 2026-12-04); anything else is assembled.
   */
  private async assembleUnit(off: number, len: number): Promise<Buffer> {
    const pieces = splitByChunk(off, len);
    if (pieces.length === 1) {
      const v = await this.viewOf(pieces[0]!.chunk, pieces[0]!.pos, len);
      if (v) return v;
    }
    return this.assemble(off, len);
  }

  /** [pos, pos+len) of a chunk as a view of cached block bytes, when one slice covers it; else null. */
  private async viewOf(chunk: number, pos: number, len: number): Promise<Buffer | null> {
    const layout = await this.layout(chunk);
    const segs = resolveSlices(layout.slices, pos, pos + len);
    const src = segs.length === 1 && segs[0]!.len === len ? segs[0]!.src : undefined;
    if (!src) return null;
    const e = blockExtents(layout).get(src.block)!;
    const fetch = (o: number, n: number) => this.o.cluster.getBlock(src.block, o, n, { missingFast: true });
    try {
      return await this.cache.view(src.block, src.off, len, e.lo, e.hi, fetch);
    } catch (err) {
      if (err instanceof BlockMissingError) return null; // assemble() reads the layout again
      throw err;
    }
  }

  /** Builds [off, off+len) from the chunk layouts: block ranges fetched in parallel, holes as zeros. */
  private async assemble(off: number, len: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(len);
    await Promise.all(splitByChunk(off, len).map((piece) => this.fill(out.subarray(piece.fileOff - off, piece.fileOff - off + piece.len), piece.chunk, piece.pos)));
    return out;
  }

  /**
   * Fills `out` with the chunk's bytes from `pos`. A layout read before a compaction (here or in
   * another mount) may name blocks that the collector has since taken: when no member has a block,
   * the layout is read again and the piece assembled from it; only a block that the fresh layout
   * still names is waited for (a repair may bring it back) until the RPC deadline.
   */
  private async fill(out: Buffer, chunk: number, pos: number, fresh = false): Promise<void> {
    const lp = this.layout(chunk);
    const layout = await lp;
    const segs = resolveSlices(layout.slices, pos, pos + out.byteLength);
    const extents = blockExtents(layout);
    try {
      await Promise.all(segs.map(async (s) => {
        if (!s.src) return void out.fill(0, s.pos - pos, s.pos - pos + s.len); // a hole
        const { block } = s.src;
        const e = extents.get(block)!;
        const fetch = (off: number, len: number) => this.o.cluster.getBlock(block, off, len, { missingFast: !fresh });
        await this.cache.read(block, s.src.off, out.subarray(s.pos - pos, s.pos - pos + s.len), e.lo, e.hi, fetch);
      }));
    } catch (e) {
      if (fresh || !(e instanceof BlockMissingError)) throw e;
      this.o.log.debug(`inode ${this.ino} chunk ${chunk}: ${e.message}; reading the layout again`);
      if (this.layouts.get(chunk) === lp) this.layouts.delete(chunk);
      await this.fill(out, chunk, pos, true);
    }
  }
}
