import { assert } from '../../shared/assert.js';
import { blockIdTimeMs, isBlockId } from '../../shared/block-id.js';
import { BLOCK_COMMIT_AGE_MS_MAX, BLOCK_GC_GRACE_MS_DEFAULT } from '../../shared/limits.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import type { BlockId } from '../../shared/types.js';
import type { BlockEntry, BlockStore } from './block-store.js';

/**
 * Garbage collection of unreferenced blocks (DESIGN.md invariant 2). A pass pages through the store in
 * id order and deletes a block only when all of these hold:
 *  - it is older than the grace period, by both its id's time (when its writer made it) and the time
 *    this node stored it (a repair copy of an old block is young here): a crashed writer's orphans die
 *    after the grace period, and a writer that is still working is never raced, because a commit may
 *    only name blocks younger than BLOCK_COMMIT_AGE_MS_MAX < grace. So an old unreferenced block can
 *    never become referenced again, and the answer of isReferenced cannot go stale before the delete;
 *  - isReferenced answered, for this page, exactly `false` for it. If isReferenced fails (no leader) or
 *    answers malformed, nothing in the page is deleted and the pass stops; the next pass resumes there.
 * Passes run one at a time, at a bounded rate, on an injected clock so tests drive time.
 */
export interface CollectorClock {
  now(): number; // ms
  sleep(ms: number): Promise<void>;
}

export interface CollectorProgress {
  pass: number;
  scanned: number; // blocks listed
  young: number; // spared by the grace period
  kept: number; // old but referenced (or not a block id)
  deleted: number;
  bytesFreed: number;
  done: boolean;
  /** Why the pass stopped early; absent while running and when the pass reached the end. */
  stopped?: string;
}

export interface BlockCollectorOptions {
  store: BlockStore;
  /** One answer per id, in order; backed by the metadata state machine through the leader. */
  isReferenced(ids: BlockId[]): Promise<boolean[]>;
  clock: CollectorClock;
  graceMs?: number;
  /** Blocks examined per second, at most: bounds the load on this node's disk and on the leader. */
  rateBlocksPerSec?: number;
  pageSize?: number;
  onProgress?(p: CollectorProgress): void;
  log?: Logger;
}

export class BlockCollector {
  private running: Promise<CollectorProgress> | null = null;
  private cursor: BlockId | undefined; // where the next page starts; kept across passes
  private passes = 0;
  private stopRequested = false;
  private readonly graceMs: number;
  private readonly rate: number;
  private readonly pageSize: number;
  private readonly log: Logger;

  constructor(private readonly opts: BlockCollectorOptions) {
    this.graceMs = opts.graceMs ?? BLOCK_GC_GRACE_MS_DEFAULT;
    this.rate = opts.rateBlocksPerSec ?? 1000;
    // A page is at most one second of the rate, so the bound holds within a second, not on average.
    this.pageSize = Math.max(1, Math.min(opts.pageSize ?? 256, Math.floor(this.rate)));
    this.log = opts.log ?? silentLogger;
    assert(this.graceMs > BLOCK_COMMIT_AGE_MS_MAX, `gc grace ${this.graceMs} ms must exceed the commit age limit`);
    assert(this.rate > 0, 'gc rate must be positive');
  }

  /** Runs a pass, or joins the one already running: there is never more than one. */
  runPass(): Promise<CollectorProgress> {
    if (!this.running) {
      this.stopRequested = false;
      this.running = this.pass().finally(() => { this.running = null; });
    }
    return this.running;
  }

  /** Asks the running pass to stop after its current page; it resumes there next time. */
  stop(): void {
    this.stopRequested = true;
  }

  get isRunning(): boolean {
    return this.running !== null;
  }

  private async pass(): Promise<CollectorProgress> {
    const p: CollectorProgress = { pass: ++this.passes, scanned: 0, young: 0, kept: 0, deleted: 0, bytesFreed: 0, done: false };
    const startMs = this.opts.clock.now();
    this.log.info(`gc pass ${p.pass}: start ${this.cursor === undefined ? 'at the first block' : `after ${this.cursor}`}`);
    for (;;) {
      if (this.stopRequested) { p.stopped = 'stop requested'; break; }
      let page: BlockEntry[];
      try {
        page = await this.opts.store.list({ ...(this.cursor === undefined ? {} : { after: this.cursor }), limit: this.pageSize });
      } catch (e) {
        p.stopped = `list failed: ${(e as Error).message}`;
        break;
      }
      if (page.length === 0) { this.cursor = undefined; break; }
      const stopped = await this.collectPage(page, p);
      if (stopped !== null) { p.stopped = stopped; break; }
      this.cursor = page[page.length - 1]!.id;
      this.opts.onProgress?.({ ...p });
      await this.pace(startMs, p.scanned);
    }
    p.done = true;
    this.report(p, this.opts.clock.now() - startMs);
    return p;
  }

  /** Deletes the page's garbage; returns why the pass must stop, or null. Nothing is deleted on a stop. */
  private async collectPage(page: BlockEntry[], p: CollectorProgress): Promise<string | null> {
    const now = this.opts.clock.now();
    const old: BlockEntry[] = [];
    let young = 0, kept = 0;
    for (const e of page) {
      if (!isBlockId(e.id)) { kept++; continue; } // not ours to judge; never delete what we cannot date
      const bornMs = Math.max(blockIdTimeMs(e.id), e.storedAtMs);
      if (now - bornMs < this.graceMs) young++;
      else old.push(e);
    }
    let refs: boolean[] = [];
    if (old.length > 0) {
      try {
        refs = await this.opts.isReferenced(old.map((e) => e.id));
      } catch (e) {
        return `isReferenced failed: ${(e as Error).message}`;
      }
      if (!Array.isArray(refs) || refs.length !== old.length) {
        return `isReferenced answered ${Array.isArray(refs) ? refs.length : typeof refs} for ${old.length} ids`;
      }
    }
    const garbage = old.filter((_e, i) => refs[i] === false);
    if (garbage.length > 0) {
      try {
        await this.opts.store.delete(garbage.map((e) => e.id));
      } catch (e) {
        return `delete failed: ${(e as Error).message}`;
      }
    }
    p.scanned += page.length;
    p.young += young;
    p.kept += kept + old.length - garbage.length;
    p.deleted += garbage.length;
    p.bytesFreed += garbage.reduce((n, e) => n + e.size, 0);
    this.log.debug(`gc pass ${p.pass}: page of ${page.length} up to ${page[page.length - 1]!.id}: deleted ${garbage.length}`);
    return null;
  }

  /** Sleeps until `scanned` blocks fit the rate since the pass started. */
  private async pace(startMs: number, scanned: number): Promise<void> {
    const dueMs = startMs + (scanned * 1000) / this.rate;
    const waitMs = dueMs - this.opts.clock.now();
    if (waitMs > 0) await this.opts.clock.sleep(waitMs);
  }

  private report(p: CollectorProgress, tookMs: number): void {
    const counts = `scanned ${p.scanned}, young ${p.young}, kept ${p.kept}, deleted ${p.deleted} (${p.bytesFreed} bytes) in ${(tookMs / 1000).toFixed(1)} s`;
    if (p.stopped === undefined) this.log.info(`gc pass ${p.pass}: done: ${counts}`);
    else this.log.warn(`gc pass ${p.pass}: stopped (${p.stopped}): ${counts}; the next pass resumes after ${this.cursor ?? 'the start'}`);
    this.opts.onProgress?.({ ...p });
  }
}
