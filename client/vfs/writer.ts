import { makeBlockId } from '../../shared/block-id.js';
import { FsError, type Errno } from '../../shared/errno.js';
import { BLOCK_BYTES_MAX, CHUNK_BYTES, COMMIT_SLICES_MAX } from '../../shared/limits.js';
import type { OpArgs } from '../../shared/protocol/ops.js';
import type { Time } from '../../shared/time.js';
import type { Attr, Cred } from '../../shared/types.js';
import { BLOCK_PUT_PREFIX_BYTES_MAX } from '../../shared/wire/block-put-frame.js';
import { IN_PLACE_MIN_BYTES, lendRoom } from '../../shared/wire/room.js';
import { refusedWhole, toErrno } from '../rpc/errno.js';
import { COMMIT_GROUP_CHUNK_SLICES_MAX, COMPACT_SLICES_MIN, type Compactor } from './compact.js';
import type { AttrChange } from './deferred-attrs.js';
import { overlayInto } from './slices.js';
import type { VfsOptions } from './types.js';

/** A run of contiguous bytes written through this mount and not yet committed. */
export interface Run {
  off: number; // file offset of buf[0]
  buf: Buffer; // capacity may exceed len while the run is open
  /** Bytes before buf in its own ArrayBuffer that nobody uses: the block put's envelope goes there. */
  room: number;
  len: number;
  sealed: boolean; // no more writes go into it; its upload has started
  block?: string;
  blockOff?: number; // where its bytes start in `block` (packed runs share one)
  upload?: Promise<void>;
}

const INITIAL_RUN_BYTES = 64 * 1024;
const COMMIT_DELAY_MS = 1000; // sealed runs are committed at most this long after their upload
const COMMIT_RUNS_MAX = 1024; // or as soon as this many wait
/**
 * Or as soon as this many bytes wait: sealed runs stay in memory until committed, so without it a
 * writer holds one second of its throughput (or a whole 64 MiB chunk) on top of what is uploading.
 */
const COMMIT_BYTES_MAX = 32 * 1024 * 1024;
/**
 * Slices per commitWrite over all chunks (COMMIT_SLICES_MAX, what a node accepts). Each commit
 * rewrites the slice list of every chunk it touches, so random writes spread over many chunks cost
 * the nodes in proportion to the number of commits: 1024 instead of 256 per commit took random 4 KiB
 * writes over a 1 GiB file (16 chunks) from 2,522 / 2,200 / 2,038 / 1,901 to 2,917 / 3,424 / 2,418 /
 * 2,435 IOPS (docs/perf-writes.md, "Session 11").
 */
const COMMIT_GROUP_SLICES_MAX = COMMIT_SLICES_MAX;
const EFBIG_RETRIES_MAX = 3;
/**
 * Runs smaller than this, sealed by a write elsewhere (random I/O), are packed into one block with
 * others (slices point into it at their offsets) instead of each costing a block upload to three
 * replicas: the pack goes when it holds PACK_BYTES_MAX or at the next commit.
 */
const PACK_RUN_BYTES_MAX = 256 * 1024;
const PACK_BYTES_MAX = 1024 * 1024;
/** Buffered runs past which a writer waits for the commits under way (bounds memory under random I/O). */
const RUNS_BUFFERED_MAX = 4 * COMMIT_RUNS_MAX;

/**
 * The write buffer of one inode, shared by every handle of this mount that writes it, so reads
 * through any handle see earlier writes (DESIGN.md invariant 6). Writes land in runs of at most one
 * block, never crossing a chunk; a full run is sealed and uploaded to its replicas while writing
 * goes on (several blocks in flight), and sealed runs are committed in write order, at chunk
 * boundaries, shortly after, and on flush/fsync/release.
 */
export class FileWriter {
  runs: Run[] = [];
  /** Uploads not settled yet; a writer over the limit waits for one of them to settle. */
  private readonly inflight = new Set<Promise<void>>();
  private commitChain: Promise<void> = Promise.resolve();
  private commitTimer: NodeJS.Timeout | null = null;
  private error: Errno | null = null;
  private cred: Cred | null = null;
  /** chmod/chown/utimens made after the buffered writes, for the flush's last commit (deferred-attrs.ts), each with when it was made. */
  deferred: { change: AttrChange; at: Time }[] = [];
  private deferTimer: NodeJS.Timeout | null = null;
  /** The commit of `deferred` that a write or another op waits for (settleDeferred). */
  settling: Promise<void> | null = null;
  /** A deferred change the cluster refused after its caller was answered: reported by the next flush. */
  private lateError: Errno | null = null;
  /** Sealed small runs waiting to be uploaded together, and their bytes. */
  private pack: Run[] = [];
  private packBytes = 0;
  /** Bytes of sealed runs not committed yet. */
  private sealedBytes = 0;
  private bytesCommitPending = false;
  lastWriteMs = 0;
  /** Called with the inode's attributes after each commit. */
  onCommitted: (attr: Attr, chunks: Set<number>) => void = () => {};
  /** Compacts chunks that this writer filled with slices (client/vfs/compact.ts); none in some unit tests. */
  compactor: Compactor | null = null;
  /** Slices committed per chunk since its last compaction check. */
  private readonly sinceCheck = new Map<number, number>();

  constructor(readonly ino: number, private readonly o: VfsOptions) {}

  get dirty(): boolean {
    return this.runs.length > 0;
  }
  /** One past the last byte written here and not committed yet (0 if none). */
  pendingEnd(): number {
    let end = 0;
    for (const r of this.runs) end = Math.max(end, r.off + r.len);
    return end;
  }

  /** Bytes buffered here and not committed yet (overlaps counted twice). */
  pendingBytes(): number {
    let n = 0;
    for (const r of this.runs) n += r.len;
    return n;
  }

  /** Buffers a write. Synchronous up to the buffer, so writes keep their arrival order; then waits if too much is uploading. */
  async write(off: number, data: Uint8Array, cred: Cred): Promise<void> {
    // Changes deferred before this write are committed with the data before it, so they stay ordered
    // between the two: one commit after both would let a chmod that gave setuid back outlive this
    // unprivileged write, which must take it away again.
    if (this.deferred.length || this.settling) await this.settleDeferred();
    if (this.error) throw new FsError(this.error, `an earlier upload of inode ${this.ino} failed`);
    this.cred = cred;
    this.lastWriteMs = this.o.clock.nowMs();
    let done = 0;
    while (done < data.byteLength) done += this.put(off + done, data.subarray(done));
    const max = this.o.uploadsInFlightMax ?? 4;
    while (this.inflight.size > max) await Promise.race(this.inflight);
    if (this.runs.length > RUNS_BUFFERED_MAX) await this.commit();
  }

  /** Puts as much of `data` as fits into the open run (or a new one); returns the bytes taken. */
  private put(off: number, data: Uint8Array): number {
    let run = this.runs[this.runs.length - 1];
    if (!run || run.sealed || off < run.off || off > run.off + run.len || off >= runLimit(run.off)) {
      // A streaming writer (it filled the last run and goes on right after it) gets the whole run at
      // once: growing 64 KiB → 4 MiB by doubling copies each block twice and leaves ~4 MiB of garbage.
      const streaming = run !== undefined && off === run.off + run.len && run.off + run.len === runLimit(run.off);
      if (run && !run.sealed) this.seal(run);
      // Otherwise just what this write needs: random 4 KiB writes each start a run, and a 64 KiB buffer
      // for each held 16x their bytes until the commit (1024 runs: 64 MiB) and fed the GC.
      const cap = runLimit(off) - off;
      run = { off, ...runBuffer(streaming ? cap : Math.min(cap, data.byteLength)), len: 0, sealed: false };
      this.runs.push(run);
    }
    const n = Math.min(data.byteLength, runLimit(run.off) - off);
    const endInRun = off - run.off + n;
    if (endInRun > run.buf.byteLength) {
      const grown = runBuffer(Math.min(runLimit(run.off) - run.off, Math.max(endInRun, run.buf.byteLength * 2, INITIAL_RUN_BYTES)));
      run.buf.copy(grown.buf, 0, 0, run.len);
      run.buf = grown.buf;
      run.room = grown.room;
    }
    run.buf.set(data.subarray(0, n), off - run.off);
    run.len = Math.max(run.len, endInRun);
    if (run.off + run.len >= runLimit(run.off)) this.seal(run);
    return n;
  }

  /** Seals a run: a big one is uploaded as its own block now, a small one joins the pack. */
  private seal(run: Run): void {
    run.sealed = true;
    run.buf = run.buf.subarray(0, run.len);
    this.sealedBytes += run.len;
    if (run.len < PACK_RUN_BYTES_MAX) {
      this.pack.push(run);
      this.packBytes += run.len;
      if (this.packBytes >= PACK_BYTES_MAX) this.sendPack();
    } else {
      this.upload([run]);
    }
    const atChunkEnd = (run.off + run.len) % CHUNK_BYTES === 0;
    const full = this.sealedBytes >= COMMIT_BYTES_MAX && !this.bytesCommitPending; // one such commit at a time
    if (full) this.bytesCommitPending = true;
    if (atChunkEnd || this.runs.length >= COMMIT_RUNS_MAX || full) {
      void this.commit().catch(() => {}).finally(() => { if (full) this.bytesCommitPending = false; });
    } else this.scheduleCommit();
  }

  private sendPack(): void {
    if (!this.pack.length) return;
    const runs = this.pack;
    this.pack = [];
    this.packBytes = 0;
    this.upload(runs);
  }

  /** Starts the upload of runs as one immutable block, each run at its offset in it. */
  private upload(runs: Run[]): void {
    const block = makeBlockId(this.o.clock.nowMs(), this.o.randomHex());
    let data: Buffer;
    if (runs.length === 1) {
      data = runs[0]!.buf;
      lendRoom(data, runs[0]!.room); // once: the run is uploaded once, and never changes after sealing
    } else data = Buffer.concat(runs.map((r) => r.buf));
    const upload = this.o.cluster.putBlock(block, data).catch((e: unknown) => {
      this.error = toErrno(e, `upload of block ${block} of inode ${this.ino}`);
      throw e;
    });
    let at = 0;
    for (const r of runs) {
      r.block = block;
      r.blockOff = at;
      r.upload = upload;
      at += r.len;
    }
    const settled: Promise<void> = upload.catch(() => {}).finally(() => this.inflight.delete(settled)); // commit() observes the error
    this.inflight.add(settled);
  }

  private scheduleCommit(): void {
    if (this.commitTimer) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = null;
      void this.commit().catch(() => {});
    }, COMMIT_DELAY_MS);
    this.commitTimer.unref?.();
  }

  /** Holds `change` for the next flush's last commit, or commits it o.deferAttrsMs from now (the caller checked mayDefer). */
  defer(change: AttrChange, at: Time): void {
    this.deferred.push({ change, at });
    if (this.deferTimer) return;
    this.deferTimer = setTimeout(() => {
      this.deferTimer = null;
      void this.settleDeferred();
    }, this.o.deferAttrsMs ?? 0);
    this.deferTimer.unref?.();
  }

  /**
   * Commits the deferred changes (with everything buffered) for a write or an op that must see them
   * applied, including changes deferred while an earlier such commit was under way. Any error is
   * kept for the next flush to report, where the application hears of it.
   */
  async settleDeferred(): Promise<void> {
    while (this.deferred.length || this.settling) {
      this.settling ??= this.flush().catch((e: unknown) => {
        // A failed commit of data leaves `error` set (reported at the next flush); a refused change is kept.
        if (!this.error) this.lateError ??= toErrno(e, `deferred attribute change of inode ${this.ino}`);
      }).finally(() => {
        this.settling = null;
      });
      await this.settling;
    }
  }

  /**
   * Seals the open run and commits everything buffered, with the deferred changes on the last
   * commitWrite; resolves when it is durable and visible. A change refused then was answered already:
   * the data is committed without it, the others are applied one by one, and this throws its errno.
   */
  async flush(): Promise<void> {
    const open = this.runs[this.runs.length - 1];
    if (open && !open.sealed) this.seal(open);
    const changes = this.deferred.splice(0).map((d) => d.change);
    if (this.deferTimer) clearTimeout(this.deferTimer);
    this.deferTimer = null;
    await this.commit(changes);
    const late = this.lateError;
    this.lateError = null;
    if (late) throw new FsError(late, `a chmod, chown or utimens of inode ${this.ino} was refused at its commit`);
  }

  /**
   * Commits the sealed runs present now, in write order, after their uploads (blocks are stored before
   * the metadata commit, invariant 2). Commits of one inode are chained so they apply in order.
   */
  commit(changes: AttrChange[] = []): Promise<void> {
    const next = this.commitChain.then(() => this.commitSealed(changes));
    this.commitChain = next.then(() => {}, () => {});
    return next;
  }

  private async commitSealed(changes: AttrChange[]): Promise<void> {
    if (this.error) throw new FsError(this.error, `inode ${this.ino} lost buffered writes`);
    const batch: Run[] = [];
    for (const r of this.runs) {
      if (!r.sealed) break;
      batch.push(r);
    }
    if (!batch.length) return this.changeAlone(changes);
    this.sendPack(); // packed runs of this batch are uploaded now
    try {
      await Promise.all(batch.map((r) => r.upload));
    } catch {
      throw new FsError(this.error ?? 'EIO');
    }
    const slices: OpArgs<'commitWrite'>['slices'] = batch.map((r) => {
      const chunk = Math.floor(r.off / CHUNK_BYTES);
      return { chunk, pos: r.off - chunk * CHUNK_BYTES, len: r.len, block: r.block!, off: r.blockOff ?? 0 };
    });
    const chunks = new Set(slices.map((s) => s.chunk));
    let attr: Attr | null = null;
    let refused = false;
    const groups = commitGroups(slices);
    for (const [i, group] of groups.entries()) {
      try {
        if (changes.length && i === groups.length - 1) ({ attr, refused } = await this.commitWithChanges(group, changes));
        else attr = await this.commitGroup(group);
      } catch (e) {
        this.error = toErrno(e, `commit of inode ${this.ino}`);
        throw new FsError(this.error);
      }
    }
    // Only now do the runs leave the buffer: until the commit is visible, reads are served from them.
    const done = new Set(batch);
    this.runs = this.runs.filter((r) => !done.has(r));
    for (const r of batch) this.sealedBytes -= r.len;
    this.onCommitted(attr!, chunks);
    this.countForCompaction(slices);
    if (refused) await this.changeAlone(changes);
  }

  /**
   * The last commitWrite of a flush, carrying the deferred changes. If that entry is refused (rolled
   * back whole, data too), the data is committed alone and `refused` says the changes are still to go.
   */
  private async commitWithChanges(group: OpArgs<'commitWrite'>['slices'], changes: AttrChange[]): Promise<{ attr: Attr; refused: boolean }> {
    try {
      return { attr: await this.commitGroup(group, changes), refused: false };
    } catch (e) {
      if (!refusedWhole(e)) throw e;
      return { attr: await this.commitGroup(group), refused: true };
    }
  }

  /** Deferred changes with no data left to ride on, or refused with it: a setattr each, in order; throws the first refusal. */
  private async changeAlone(changes: AttrChange[]): Promise<void> {
    let first: Errno | null = null;
    for (const change of changes) {
      try {
        this.onCommitted(await this.o.cluster.meta('setattr', { ino: this.ino, ...change }), new Set());
      } catch (e) {
        first ??= toErrno(e, `setattr of inode ${this.ino}`);
      }
    }
    if (first) throw new FsError(first, `a chmod, chown or utimens of inode ${this.ino} was refused at its commit`);
  }

  /** One commitWrite; a chunk full of slices (EFBIG) is compacted and the commit tried again. */
  private async commitGroup(group: OpArgs<'commitWrite'>['slices'], attrs?: AttrChange[]): Promise<Attr> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.o.cluster.meta('commitWrite', { ino: this.ino, slices: group, cred: this.cred!, ...(attrs ? { attrs } : {}) });
      } catch (e) {
        if (toErrno(e) !== 'EFBIG' || !this.compactor || attempt >= EFBIG_RETRIES_MAX) throw e;
        for (const c of new Set(group.map((s) => s.chunk))) {
          // A compaction running now leaves the chunk with few slices when it lands: wait for it and try
          // again, rather than queue a second rewrite of the whole chunk behind it.
          if (attempt === 0 && (await this.compactor.settled(this.ino, c))) continue;
          await this.compactor.compact(this.ino, c, 1);
        }
      }
    }
  }

  /**
   * After every COMPACT_SLICES_MIN slices this mount adds to a chunk (or as many as the last check
   * said were still missing), the chunk is checked for compaction.
   */
  private countForCompaction(slices: OpArgs<'commitWrite'>['slices']): void {
    if (!this.compactor) return;
    for (const s of slices) this.sinceCheck.set(s.chunk, (this.sinceCheck.get(s.chunk) ?? 0) + 1);
    for (const [c, n] of this.sinceCheck) {
      if (n < this.compactor.checkAfter(this.ino, c)) continue;
      this.sinceCheck.delete(c);
      this.compactor.background(this.ino, c);
    }
  }

  /** Reports and clears a past failure (the application sees it once, at fsync/close, as EIO). */
  takeError(): Errno | null {
    const e = this.error;
    this.error = null;
    return e;
  }

  /** Applies the buffered writes in order onto `out`, which holds file bytes from `off`. */
  overlay(out: Uint8Array, off: number, runs: readonly Run[] = this.runs): void {
    for (const r of runs) overlayInto(out, off, r.buf, r.off, r.len);
  }

  /** Forgets buffered bytes at or past `size` (after a truncate that the writer was flushed for). */
  dropFrom(size: number): void {
    this.runs = this.runs.filter((r) => r.off < size);
    this.sealedBytes = this.runs.reduce((n, r) => n + (r.sealed ? r.len : 0), 0);
    // Only called after a flush: the pack is empty, nothing sealed waits for an upload.
  }
}

/** A run ends at the block size or at the end of its chunk, whichever comes first. */
function runLimit(off: number): number {
  const chunkEnd = (Math.floor(off / CHUNK_BYTES) + 1) * CHUNK_BYTES;
  return Math.min(chunkEnd, off + BLOCK_BYTES_MAX);
}

/**
 * A run's buffer. One that may be framed in place (room.ts) gets its own ArrayBuffer with room for
 * the block put's envelope in front, so the frame sent to the replicas is this memory, not a copy.
 */
function runBuffer(bytes: number): { buf: Buffer; room: number } {
  if (bytes < IN_PLACE_MIN_BYTES) return { buf: Buffer.allocUnsafe(bytes), room: 0 };
  return { buf: Buffer.allocUnsafeSlow(BLOCK_PUT_PREFIX_BYTES_MAX + bytes).subarray(BLOCK_PUT_PREFIX_BYTES_MAX), room: BLOCK_PUT_PREFIX_BYTES_MAX };
}

/**
 * Slices cut into commitWrite groups, in write order: at most COMMIT_GROUP_SLICES_MAX in a group and
 * COMMIT_GROUP_CHUNK_SLICES_MAX of any one chunk.
 */
export function commitGroups<S extends { chunk: number }>(slices: S[]): S[][] {
  const groups: S[][] = [];
  let group: S[] = [];
  let perChunk = new Map<number, number>();
  for (const s of slices) {
    const n = perChunk.get(s.chunk) ?? 0;
    if (group.length === COMMIT_GROUP_SLICES_MAX || n === COMMIT_GROUP_CHUNK_SLICES_MAX) {
      groups.push(group);
      group = [];
      perChunk = new Map();
    }
    group.push(s);
    perChunk.set(s.chunk, (perChunk.get(s.chunk) ?? 0) + 1);
  }
  if (group.length) groups.push(group);
  return groups;
}
