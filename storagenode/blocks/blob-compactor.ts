import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../shared/log.js';
import type { BlockId } from '../../shared/types.js';
import type { BlobIndex } from './blob-index.js';
import type { SegmentFiles } from './segment-files.js';
import { decodeSegmentHead, recordBytes, SEGMENT_HEAD_BYTES_MAX, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC, type BlockLoc } from './segment-record.js';

export interface CompactorOptions {
  /** A sealed segment is rewritten once this share of it is dead (default 0.5). */
  compactDeadRatio?: number;
  /** Live bytes copied per second at most, so compaction does not starve client writes (default 32 MiB/s). */
  compactBytesPerSec?: number;
  /** How often a background pass looks for candidates; 0 runs passes only when asked (tests). Default 60 s. */
  compactEveryMs?: number;
}

/** What the compactor needs from the store: moves and drops go through its write queue (group commit). */
export interface CompactorHost {
  files: SegmentFiles;
  index: BlobIndex;
  candidates(): { seg: number; size: number; live: number }[];
  move(id: BlockId, from: BlockLoc, raw: Buffer): Promise<void>;
  drop(seg: number): Promise<void>;
  liveCount(seg: number): number;
  isOpen(): boolean;
}

const SCAN_BYTES = 1 << 20; // read window while walking a segment
const MOVE_BATCH_BYTES = 16 << 20; // moves enqueued together, so they share group commits

/**
 * Rewrites the live records of mostly-dead sealed segments into the active one, then removes the old
 * file. A move lands only if the index still names the old place (a delete or repair in between wins),
 * and the segment is dropped only when its live count is zero, so no live block is ever lost; reads in
 * flight on a dropped segment finish on its open descriptor (segment-files.ts).
 */
export class BlobCompactor {
  private running: Promise<number> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly deadRatio: number;
  private readonly bytesPerSec: number;
  private readonly everyMs: number;
  readonly totals = { passes: 0, segments: 0, movedBytes: 0 };

  constructor(private readonly host: CompactorHost, opts: CompactorOptions, private readonly log: Logger) {
    this.deadRatio = opts.compactDeadRatio ?? 0.5;
    this.bytesPerSec = opts.compactBytesPerSec ?? 32 * 1024 * 1024;
    this.everyMs = opts.compactEveryMs ?? 60_000;
  }

  start(): void {
    if (this.everyMs <= 0) return;
    this.timer = setInterval(() => {
      this.pass().catch((e: Error) => this.log.error(`compaction failed: ${e.stack ?? e}`));
    }, this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => 0);
  }

  /** One pass over every candidate; a second caller waits for the pass already running. */
  pass(): Promise<number> {
    this.running ??= this.runPass().finally(() => (this.running = null));
    return this.running;
  }

  private async runPass(): Promise<number> {
    let removed = 0;
    const picks = this.host.candidates().filter((s) => s.size === 0 || (s.size - s.live) / s.size >= this.deadRatio);
    for (const s of picks) {
      if (this.stopped || !this.host.isOpen()) break;
      const moved = await this.compactSegment(s.seg, s.size);
      if (this.stopped) break;
      if (this.host.liveCount(s.seg) !== 0) {
        this.log.warn(`segment ${s.seg}: ${this.host.liveCount(s.seg)} records still live after compaction; kept`);
        continue;
      }
      await this.host.drop(s.seg);
      removed++;
      this.totals.segments++;
      this.totals.movedBytes += moved;
      this.log.info(`compacted segment ${s.seg}: ${s.size} bytes, ${moved} live bytes moved`);
    }
    this.totals.passes++;
    return removed;
  }

  /** Walks the segment's records and moves those the index still points at; returns the bytes moved. */
  private async compactSegment(seg: number, size: number): Promise<number> {
    let off = 0, moved = 0, pending: Promise<void>[] = [], pendingBytes = 0;
    const t0 = performance.now();
    while (off < size && !this.stopped) {
      const rec = await this.nextRecord(seg, off, size);
      if (rec === null) break;
      const { loc, id } = rec;
      off = loc.off + recordBytes(loc);
      const cur = await this.host.index.loc(id);
      if (!cur || cur.seg !== seg || cur.off !== loc.off) continue; // dead
      const raw = await this.host.files.read(seg, loc.off, recordBytes(loc));
      if (raw === null || raw.length < recordBytes(loc)) break;
      // Copied as is, bytes and crc: a corrupt copy stays detectably corrupt for repair to replace.
      pending.push(this.host.move(id, cur, raw));
      pendingBytes += raw.length;
      moved += raw.length;
      if (pendingBytes >= MOVE_BATCH_BYTES) {
        await Promise.all(pending);
        pending = [];
        pendingBytes = 0;
      }
      const ahead = moved / this.bytesPerSec * 1000 - (performance.now() - t0);
      if (ahead > 5) await sleep(ahead);
    }
    await Promise.all(pending);
    return moved;
  }

  /**
   * The next whole record header at or after `off`. A header that does not parse (a corrupt byte)
   * is skipped by searching for the next magic, so one bad header does not hide the live records
   * behind it.
   */
  private async nextRecord(seg: number, off: number, size: number): Promise<{ id: BlockId; loc: BlockLoc } | null> {
    const magic = Buffer.alloc(4);
    magic.writeUInt32LE(SEGMENT_MAGIC, 0);
    while (off < size) {
      const buf = await this.host.files.read(seg, off, Math.min(SCAN_BYTES, size - off));
      if (buf === null || buf.length < SEGMENT_HEADER_BYTES) return null;
      const h = decodeSegmentHead(buf.subarray(0, SEGMENT_HEAD_BYTES_MAX));
      if (h !== null) return { id: h.id, loc: { seg, off, size: h.size, crc: h.crc, storedAtMs: h.storedAtMs, headBytes: h.headBytes, version: h.version } };
      const k = buf.indexOf(magic, 1);
      off += k > 0 ? k : Math.max(1, buf.length - 3);
    }
    return null;
  }
}
