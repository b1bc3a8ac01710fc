import type { Logger } from '../../shared/log.js';
import type { ScrubProgress } from '../../shared/protocol/ops.js';
import type { BlockStore } from '../blocks/block-store.js';
import { mib } from './repairer.js';

export interface ScrubDeps {
  blocks: BlockStore;
  /** Rewrites the local copy of `id` from a good replica elsewhere; true if it did. */
  repairBlock(id: string): Promise<boolean>;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Read rate bound: a scrub reads every byte on the node, so it must stay in the background. */
  bytesPerSec: number;
  log: Logger;
}

const isCorrupt = (e: unknown) => (e as { name?: string })?.name === 'BlockCorruptError';

/**
 * Scrub (DESIGN.md invariant 3): a pass reads every local block, which makes the store verify its
 * checksum, and rewrites a bad copy from a good replica (a put replaces a copy that fails its
 * checksum). Paced by bytes read; one pass at a time; progress for status.
 */
export class Scrubber {
  readonly progress: ScrubProgress = { pass: 0, running: false, checked: 0, bytes: 0, corrupt: 0, repaired: 0, total: 0, lastPassDoneAtMs: 0 };
  private stopRequested = false;
  private running: Promise<void> | null = null;
  private readonly repairing = new Set<string>();

  constructor(private readonly d: ScrubDeps) {}

  runPass(): Promise<void> {
    this.stopRequested = false;
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  stop(): void {
    this.stopRequested = true;
  }

  /** A read found a bad copy: repair it now rather than at the next pass. */
  repairSoon(id: string): void {
    if (this.repairing.has(id)) return;
    this.repairing.add(id);
    this.d.log.warn(`block ${id} failed its checksum on read; repairing it from another replica`);
    this.d.repairBlock(id)
      .then((ok) => this.d.log.info(ok ? `block ${id} repaired from a good replica` : `block ${id}: no good replica answered; scrub retries`))
      .catch((e: Error) => this.d.log.warn(`block ${id}: repair failed: ${e.message}`))
      .finally(() => this.repairing.delete(id));
  }

  private async pass(): Promise<void> {
    const p = this.progress;
    Object.assign(p, { pass: p.pass + 1, running: true, checked: 0, bytes: 0, corrupt: 0, repaired: 0, total: this.d.blocks.stats().count });
    const startMs = this.d.now();
    this.d.log.info(`scrub pass ${p.pass}: checking ${p.total} block(s) at up to ${mib(this.d.bytesPerSec)}/s`);
    let after: string | undefined;
    try {
      for (;;) {
        if (this.stopRequested) break;
        const page = await this.d.blocks.list({ ...(after === undefined ? {} : { after }), limit: 64 });
        if (page.length === 0) break;
        for (const e of page) {
          if (this.stopRequested) break;
          await this.check(e.id);
          p.checked++;
          p.bytes += e.size;
          const waitMs = startMs + (p.bytes * 1000) / this.d.bytesPerSec - this.d.now();
          if (waitMs > 0) await this.d.sleep(waitMs);
        }
        after = page[page.length - 1]!.id;
        if (p.checked % 1024 < page.length) this.d.log.debug(`scrub pass ${p.pass}: ${p.checked}/${p.total} checked`);
      }
    } finally {
      p.running = false;
      p.lastPassDoneAtMs = this.d.now();
    }
    const msg = `scrub pass ${p.pass}: checked ${p.checked} block(s) (${mib(p.bytes)}) in ${((this.d.now() - startMs) / 1000).toFixed(1)} s; ${p.corrupt} corrupt, ${p.repaired} repaired`;
    if (p.corrupt) this.d.log.warn(msg);
    else this.d.log.info(msg);
  }

  private async check(id: string): Promise<void> {
    try {
      await this.d.blocks.get(id);
      return;
    } catch (e) {
      if (!isCorrupt(e)) throw e;
    }
    this.progress.corrupt++;
    this.d.log.warn(`scrub: block ${id} failed its checksum; repairing it from another replica`);
    if (await this.d.repairBlock(id)) {
      this.progress.repaired++;
      this.d.log.info(`scrub: block ${id} repaired from a good replica`);
    } else {
      this.d.log.warn(`scrub: block ${id}: no good replica answered; the next pass retries`);
    }
  }
}
