import { makeBlockId } from '../../shared/block-id.js';
import { prefixOf } from '../../shared/chunk-prefix.js';
import { BLOCK_BYTES_MAX, SLICES_PER_CHUNK_MAX } from '../../shared/limits.js';
import type { Attr, BlockId, Ino, Slice } from '../../shared/types.js';
import { toErrno } from '../rpc/errno.js';
import { resolveSlices, type Segment } from './slices.js';
import type { VfsOptions } from './types.js';

/**
 * Slices of one chunk per commitWrite (writer.ts commitGroups). Well under SLICES_PER_CHUNK_MAX, so
 * that after a compaction (which leaves a chunk with at most ~50 slices) the group always fits: a
 * chunk refusing a commit with EFBIG is compacted and the commit retried.
 */
export const COMMIT_GROUP_CHUNK_SLICES_MAX = 256;
/** A chunk is compacted once it holds this many slices (checked after this mount committed as many). */
export const COMPACT_SLICES_MIN = 64;
/**
 * Holes stay holes, except that past this many separate extents the smallest gaps between them are
 * written as zeros: otherwise scattered small writes (one byte every 100 KiB) could never be
 * compacted below SLICES_PER_CHUNK_MAX. The result is at most this many extents, plus one slice per
 * BLOCK_BYTES_MAX of data (≤ 16 per chunk).
 */
export const COMPACT_EXTENTS_MAX = 32;
const READS_IN_FLIGHT_MAX = 16;
const PIECES_IN_FLIGHT_MAX = 2; // new blocks being assembled at once: bounds memory to ~8 MiB
/**
 * A background compaction rewrites the chunk's whole written span, so scattered small writes over a
 * big chunk would be rewritten again every COMPACT_SLICES_MIN slices (random 4 KiB writes over 64 MiB:
 * 1 MiB rewritten, times three replicas, per 4 KiB written). It waits until the chunk holds one slice
 * per this many bytes it would rewrite (at most BACKGROUND_SLICES_MAX, below SLICES_PER_CHUNK_MAX, where
 * EFBIG forces it). Was 80 KiB with 1024 slices per chunk (docs/perf-writes.md, 2026-12-04).
 */
const REWRITE_BYTES_PER_SLICE = 16 * 1024;
/**
 * At most this many slices (a 64 MiB chunk reaches it): the compaction rewrites the chunk once per
 * ~3800 small writes, and what one commit group holds of a chunk may still land while it runs before
 * the chunk is full (EFBIG).
 */
const BACKGROUND_SLICES_MAX = SLICES_PER_CHUNK_MAX - COMMIT_GROUP_CHUNK_SLICES_MAX;
const ATTEMPTS_MAX = 3; // EAGAIN (the chunk changed under us) is retried this many times
/**
 * Compactions that run at once in one mount, whatever chunk they are of; the others wait their turn
 * (one waiting entry per chunk). Each holds its shared reads (up to SHARED_BYTES_MAX), two pieces
 * being assembled and their uploads: random writes over a 1 GiB file filled 16 chunks at once, and
 * 16 compactions held ~760 MB of live buffers in the client.
 */
export const COMPACTIONS_RUNNING_MAX = 1;
/** Chunks whose shortfall (Compactor.checkAfter) is remembered; past it the oldest is forgotten. */
const NOT_WORTH_ENTRIES_MAX = 4096;

/** A new block's place in the chunk and the old segments that fill it (null src: zeros). */
export interface Piece {
  pos: number;
  len: number;
  segs: Segment[];
}

/** Maximal runs of written bytes; holes between them stay out unless there are too many runs. */
function extents(segs: readonly Segment[], extentsMax: number): [number, number][] {
  const runs: [number, number][] = [];
  for (const s of segs) {
    if (!s.src) continue;
    const last = runs[runs.length - 1];
    if (last && last[1] === s.pos) last[1] = s.pos + s.len;
    else runs.push([s.pos, s.pos + s.len]);
  }
  if (runs.length <= extentsMax) return runs;
  // Fill the smallest gaps: they cost the fewest zero bytes per slice saved.
  const gaps = runs.slice(1).map((r, i) => ({ i, size: r[0] - runs[i]![1] })).sort((a, b) => a.size - b.size || a.i - b.i);
  const fill = new Set(gaps.slice(0, runs.length - extentsMax).map((g) => g.i));
  const out: [number, number][] = [[...runs[0]!]];
  for (let i = 1; i < runs.length; i++) {
    if (fill.has(i - 1)) out[out.length - 1]![1] = runs[i]![1];
    else out.push([...runs[i]!]);
  }
  return out;
}

/**
 * The compacted layout of a chunk whose slices are `slices` (write order): one new block per up to
 * BLOCK_BYTES_MAX of each extent, each with the segments it is read from. Pure.
 */
export function planCompaction(slices: readonly Slice[], extentsMax = COMPACT_EXTENTS_MAX): Piece[] {
  if (!slices.length) return [];
  const from = Math.min(...slices.map((s) => s.pos));
  const to = Math.max(...slices.map((s) => s.pos + s.len));
  const segs = resolveSlices(slices, from, to);
  const pieces: Piece[] = [];
  for (const [a, b] of extents(segs, extentsMax)) {
    for (let p = a; p < b; p += BLOCK_BYTES_MAX) {
      const e = Math.min(b, p + BLOCK_BYTES_MAX);
      pieces.push({ pos: p, len: e - p, segs: segs.filter((s) => s.pos < e && s.pos + s.len > p) });
    }
  }
  return pieces;
}

/** How many slices a chunk needs before rewriting `plan` in the background is worth it. */
function worthAt(plan: readonly Piece[]): number {
  const bytes = plan.reduce((n, p) => n + p.len, 0);
  return Math.min(BACKGROUND_SLICES_MAX, Math.max(COMPACT_SLICES_MIN, Math.ceil(bytes / REWRITE_BYTES_PER_SLICE)));
}

/** Runs `f` over `xs` with at most `n` at once. */
async function pooled<T, R>(xs: readonly T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let next = 0;
  const worker = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await f(xs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, xs.length) }, worker));
  return out;
}

interface Part { at: number; off: number; len: number }
/** Per old block, the spans [from, to) a piece reads, each with the parts it holds and where they go. */
type BlockReads = Map<BlockId, { from: number; to: number; parts: Part[] }[]>;

/**
 * Parts of one block further apart than this are read separately. A 1 MiB pack holds 4 KiB runs from
 * all over a file, so two runs of one pack in one 4 MiB piece made the piece read up to 1 MiB for
 * 8 KiB: compacting a 64 MiB chunk of 3840 such slices read ~360 MB. Node reads check 64 KiB ranges.
 */
const READ_GAP_BYTES_MAX = 64 * 1024;

/** What a piece reads: per old block, the spans it needs (parts closer than READ_GAP_BYTES_MAX share one). */
export function readsOf(p: Piece): BlockReads {
  const parts = new Map<BlockId, Part[]>();
  for (const s of p.segs) {
    if (!s.src) continue;
    const a = Math.max(s.pos, p.pos), b = Math.min(s.pos + s.len, p.pos + p.len);
    const list = parts.get(s.src.block) ?? [];
    list.push({ at: a - p.pos, off: s.src.off + (a - s.pos), len: b - a });
    parts.set(s.src.block, list);
  }
  const byBlock: BlockReads = new Map();
  for (const [block, list] of parts) {
    const spans: { from: number; to: number; parts: Part[] }[] = [];
    for (const q of list.sort((x, y) => x.off - y.off)) {
      const last = spans[spans.length - 1];
      if (last && q.off - last.to <= READ_GAP_BYTES_MAX) {
        last.to = Math.max(last.to, q.off + q.len);
        last.parts.push(q);
      } else spans.push({ from: q.off, to: q.off + q.len, parts: [q] });
    }
    byBlock.set(block, spans);
  }
  return byBlock;
}

/** A block several pieces read is read once, if the span they need together is at most this. */
const SHARED_SPAN_BYTES_MAX = 1024 * 1024;
/** And at most this much such data is held at once by one compaction. */
const SHARED_BYTES_MAX = 32 * 1024 * 1024;

/**
 * Reads of one compaction. Packed small writes (client/vfs/writer.ts) put runs from all over a chunk
 * into one ≤ 1 MiB block, so every piece of the chunk reads a range of nearly every pack: read per
 * piece, a 64 MiB chunk's compaction read its packs ~16 times (a third of its read bytes). A block
 * that several pieces read, within SHARED_SPAN_BYTES_MAX, is read once (the union of their spans)
 * when that moves fewer bytes than their separate reads, and dropped after its last reader.
 */
export class SharedReads {
  private readonly spans = new Map<BlockId, { from: number; to: number; readers: number; data?: Promise<Buffer> }>();

  constructor(plan: readonly Piece[], private readonly get: (block: BlockId, from: number, len: number) => Promise<Uint8Array>) {
    const all = new Map<BlockId, { from: number; to: number; readers: number; separately: number }>();
    for (const p of plan) {
      for (const [block, spans] of readsOf(p)) {
        const r = { from: spans[0]!.from, to: spans[spans.length - 1]!.to };
        const own = spans.reduce((n, g) => n + g.to - g.from, 0);
        const u = all.get(block);
        if (u) {
          u.from = Math.min(u.from, r.from);
          u.to = Math.max(u.to, r.to);
          u.readers++;
          u.separately += own;
        } else all.set(block, { from: r.from, to: r.to, readers: 1, separately: own });
      }
    }
    let held = 0;
    for (const [block, u] of all) {
      const span = u.to - u.from;
      // Only where one read of the union moves fewer bytes than each piece reading its own span.
      if (u.readers < 2 || span >= u.separately || span > SHARED_SPAN_BYTES_MAX || held + span > SHARED_BYTES_MAX) continue;
      held += span;
      this.spans.set(block, { from: u.from, to: u.to, readers: u.readers });
    }
  }

  /** Bytes of `block` from `from` (at least up to `to`): from the shared read if there is one. */
  async read(block: BlockId, from: number, to: number): Promise<{ from: number; data: Uint8Array }> {
    const u = this.spans.get(block);
    if (!u) return { from, data: await this.get(block, from, to - from) };
    u.data ??= this.get(block, u.from, u.to - u.from).then((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    return { from: u.from, data: await u.data };
  }

  /** One reader of `block` is done with it; the last one lets the shared bytes go. */
  done(block: BlockId): void {
    const u = this.spans.get(block);
    if (u && --u.readers === 0) this.spans.delete(block);
  }
}

export type CompactOutcome = 'compacted' | 'skipped' | 'raced';

/** A compaction of one chunk, from its call until it ends; it may wait for a slot first. */
interface Entry {
  promise: Promise<CompactOutcome>;
  /** The least `minSlices` any caller asked for while it waited (read when it starts). */
  minSlices: number;
  started: boolean;
  /** Someone is blocked on it (EFBIG): it goes ahead of background compactions waiting for a slot. */
  urgent: boolean;
}

/**
 * Slots for compactions: at most `max` hold one; the others wait, urgent ones first, then in call
 * order. take() never fails, and each take is matched by one give() in a finally (Compactor.run),
 * so a slot cannot leak.
 */
class CompactionSlots {
  private free: number;
  private readonly waiting: { e: Entry; go: () => void }[] = [];

  constructor(max: number) {
    this.free = Math.max(1, max);
  }

  take(e: Entry): Promise<void> {
    if (this.free > 0 && !this.waiting.length) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((go) => this.waiting.push({ e, go }));
  }

  give(): void {
    const i = this.waiting.findIndex((w) => w.e.urgent);
    const next = this.waiting.splice(i >= 0 ? i : 0, 1)[0];
    if (next) next.go(); // the slot passes straight on
    else this.free++;
  }
}

/**
 * Compacts chunks of files (JuiceFS-style): reads a chunk's visible bytes as its slices say, writes
 * them as new blocks, and commits `compactChunk`, which swaps the slices only if the chunk still
 * starts with the ones read. One compaction per chunk at a time in this mount, and at most
 * COMPACTIONS_RUNNING_MAX of all chunks (their memory adds up).
 */
export class Compactor {
  private readonly running = new Map<string, Entry>();
  private readonly queued = new Map<string, Promise<CompactOutcome>>();
  private readonly slots: CompactionSlots;
  /** Per chunk that was not worth compacting yet: how many more slices it needed then. */
  private readonly notWorth = new Map<string, number>();
  /** Told of the inode's attributes after a compaction (its version moved) and which chunk changed. */
  onCompacted: (attr: Attr, chunk: number) => void = () => {};

  constructor(private readonly o: VfsOptions, runningMax = COMPACTIONS_RUNNING_MAX) {
    this.slots = new CompactionSlots(runningMax);
  }

  /**
   * Compacts the chunk if it holds at least `minSlices` slices and the plan has fewer. EAGAIN is
   * retried; other failures are thrown to the caller (a background caller logs and forgets them).
   */
  compact(ino: Ino, chunk: number, minSlices = COMPACT_SLICES_MIN): Promise<CompactOutcome> {
    const key = `${ino}/${chunk}`;
    const cur = this.running.get(key);
    if (!cur) {
      const e: Entry = { promise: null!, minSlices, started: false, urgent: minSlices < COMPACT_SLICES_MIN };
      e.promise = this.run(ino, chunk, e).finally(() => this.running.delete(key));
      this.running.set(key, e);
      return e.promise;
    }
    if (!cur.started) {
      // It has not read the chunk yet: it will see every slice committed until then, so it serves
      // this caller too, with the lower threshold of the two.
      cur.minSlices = Math.min(cur.minSlices, minSlices);
      cur.urgent ||= minSlices < COMPACT_SLICES_MIN;
      return cur.promise;
    }
    // One already runs on what the chunk held when it began; a fast writer has added slices since.
    // Queue one follow-up (shared by every caller meanwhile), so the chunk is compacted again once
    // the running one ends, instead of waiting for COMPACT_SLICES_MIN more slices that may never come.
    const qKey = `${key}/${minSlices}`;
    let q = this.queued.get(qKey);
    if (!q) {
      q = cur.promise.catch(() => 'skipped' as const).then(() => {
        this.queued.delete(qKey);
        return this.compact(ino, chunk, minSlices);
      });
      this.queued.set(qKey, q);
    }
    return q;
  }

  /** Waits for a slot, compacts, and gives the slot back however it ended. */
  private async run(ino: Ino, chunk: number, e: Entry): Promise<CompactOutcome> {
    await this.slots.take(e);
    try {
      e.started = true;
      return await this.attempts(ino, chunk, e.minSlices);
    } finally {
      this.slots.give();
    }
  }

  /**
   * Settles when the compaction of this chunk under way now (if any, running or waiting for its
   * turn, which it then gets ahead of background ones) has ended, however it ended.
   */
  async settled(ino: Ino, chunk: number): Promise<boolean> {
    const e = this.running.get(`${ino}/${chunk}`);
    if (!e) return false;
    e.urgent = true;
    await e.promise.catch(() => {});
    return true;
  }

  /**
   * New slices this mount should add to the chunk before asking again: the last check's shortfall.
   * Checking every COMPACT_SLICES_MIN slices read the whole layout (up to ~290 KB) and planned it ~60
   * times per compaction of a 64 MiB chunk. Slices other mounts add make the guess late; EFBIG still
   * compacts a full chunk at once.
   */
  checkAfter(ino: Ino, chunk: number): number {
    return Math.max(COMPACT_SLICES_MIN, this.notWorth.get(`${ino}/${chunk}`) ?? 0);
  }

  private noteNotWorth(ino: Ino, chunk: number, shortfall: number): void {
    const key = `${ino}/${chunk}`;
    this.notWorth.delete(key);
    if (shortfall <= COMPACT_SLICES_MIN) return;
    this.notWorth.set(key, shortfall);
    // Bounded: the oldest entry goes (its chunk is then checked every COMPACT_SLICES_MIN slices again).
    if (this.notWorth.size > NOT_WORTH_ENTRIES_MAX) this.notWorth.delete(this.notWorth.keys().next().value!);
  }

  /** Starts a compaction and does not wait for it; it gives up quietly (a debug line) on failure. */
  background(ino: Ino, chunk: number): void {
    void this.compact(ino, chunk).catch((e: unknown) => {
      this.o.log.debug(`compaction of inode ${ino} chunk ${chunk} gave up: ${toErrno(e, 'compaction')}`);
    });
  }

  private async attempts(ino: Ino, chunk: number, minSlices: number): Promise<CompactOutcome> {
    for (let i = 0; i < ATTEMPTS_MAX; i++) {
      const r = await this.once(ino, chunk, minSlices);
      if (r !== 'raced') return r;
    }
    return 'raced';
  }

  private async once(ino: Ino, chunk: number, minSlices: number): Promise<CompactOutcome> {
    const { slices } = await this.o.cluster.meta('readChunk', { ino, chunk });
    if (slices.length < minSlices) return 'skipped';
    const plan = planCompaction(slices);
    if (plan.length >= slices.length) return 'skipped';
    const worth = worthAt(plan);
    this.noteNotWorth(ino, chunk, worth - slices.length);
    if (minSlices >= COMPACT_SLICES_MIN && slices.length < worth) return 'skipped';
    const shared = new SharedReads(plan, (b, from, len) => this.o.cluster.getBlock(b, from, len));
    const fresh = await pooled(plan, PIECES_IN_FLIGHT_MAX, (p) => this.rewrite(p, shared));
    try {
      const attr = await this.o.cluster.meta('compactChunk', { ino, chunk, ...prefixOf(slices), slices: fresh });
      this.onCompacted(attr, chunk);
      this.o.log.debug(`compacted inode ${ino} chunk ${chunk}: ${slices.length} slices -> ${fresh.length}`);
      return 'compacted';
    } catch (e) {
      // The new blocks stay unreferenced; the collector takes them after the grace period.
      if (toErrno(e, 'compactChunk') === 'EAGAIN') return 'raced';
      throw e;
    }
  }

  /** Reads one piece's bytes from the old blocks (a ranged read per span) and stores them as a new block. */
  private async rewrite(p: Piece, shared: SharedReads): Promise<Slice> {
    const buf = Buffer.alloc(p.len); // zeros where a hole between extents is filled
    const reads = [...readsOf(p)].flatMap(([block, spans]) => spans.map((r, i) => ({ block, r, last: i === spans.length - 1 })));
    await pooled(reads, READS_IN_FLIGHT_MAX, async ({ block, r, last }) => {
      const { from, data } = await shared.read(block, r.from, r.to);
      for (const part of r.parts) buf.set(data.subarray(part.off - from, part.off - from + part.len), part.at);
      if (last) shared.done(block);
    });
    const block = makeBlockId(this.o.clock.nowMs(), this.o.randomHex());
    await this.o.cluster.putBlock(block, buf);
    return { pos: p.pos, len: p.len, block, off: 0 };
  }
}
