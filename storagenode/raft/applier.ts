import { assert } from '../../shared/assert.js';
import type { StateMachine } from '../state-machine.js';
import type { Entry } from './types.js';

/** Committed entries handed to the state machine in one go; bounds memory and the batch size. */
export const APPLY_BATCH_ENTRIES_MAX = 256;

export interface ApplierHooks {
  /** An entry's result is ready (it is in the state machine's store). */
  applied(e: Entry, result: unknown): void;
  /** Everything up to index is applied: move the core's applied index, release waiting reads. */
  appliedTo(index: number): void;
  /** Applying failed: continuing could fork the replicas, so the node stops. */
  failed(e: Error): void;
}

/**
 * Applies committed entries in log order on a pipeline of its own, so a slow apply never delays the
 * Ready loop's next fsync (the loop hands entries over only once they are durable locally). Entries
 * that pile up while one batch is applied go to the state machine together: it is called for each
 * without waiting in between, which lets it store them in one write (storagenode/meta does), while
 * each entry's effects stay atomic and applied() moves only with what is stored.
 */
export class Applier {
  private queue: Entry[] = [];
  private running: Promise<void> | null = null;
  private stopped = false;
  /** The last index handed to the state machine. */
  private next: number;

  constructor(private readonly sm: StateMachine, private readonly hooks: ApplierHooks) {
    this.next = sm.applied().index;
  }

  push(entries: Entry[]): void {
    if (this.stopped || !entries.length) return;
    for (const e of entries) this.queue.push(e);
    this.running ??= this.drain().finally(() => {
      this.running = null;
    });
  }

  /** Resolves once everything pushed so far is applied (or the applier stopped). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** A snapshot replaced the state machine's contents: continue after it. */
  resetTo(index: number): void {
    assert(!this.running && !this.queue.length, 'reset of a busy applier');
    this.next = index;
  }

  stop(): void {
    this.stopped = true;
    this.queue = [];
  }

  private async drain(): Promise<void> {
    while (this.queue.length && !this.stopped) {
      const batch = this.queue.splice(0, APPLY_BATCH_ENTRIES_MAX).filter((e) => e.index > this.next);
      if (!batch.length) continue;
      try {
        await this.applyBatch(batch);
      } catch (e) {
        this.stopped = true;
        this.queue = [];
        this.hooks.failed(e as Error);
        return;
      }
    }
  }

  private async applyBatch(batch: Entry[]): Promise<void> {
    const runs: Promise<unknown>[] = [];
    for (const e of batch) {
      assert(e.index === this.next + 1, `apply of ${e.index} after ${this.next}`);
      this.next = e.index;
      // Configuration entries reach the state machine as no-ops so its applied index stays contiguous.
      const entry = { index: e.index, term: e.term, data: e.type === 'conf' ? new Uint8Array(0) : e.data };
      runs.push(this.sm.applyEarly && this.sm.whenStored ? this.sm.applyEarly(entry) : this.sm.apply(entry));
    }
    const results = await Promise.all(runs);
    // Proposers may learn results before the state machine has stored them (acknowledged = in a
    // quorum's log); reads and compaction wait for the store.
    for (let k = 0; k < batch.length; k++) this.hooks.applied(batch[k]!, results[k]);
    await this.sm.whenStored?.();
    this.hooks.appliedTo(batch[batch.length - 1]!.index);
  }
}
