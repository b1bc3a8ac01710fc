/** What a queued write request carries to settle its caller's promise. */
export interface Settle {
  resolve(): void;
  reject(e: unknown): void;
}

export interface GroupCommitOptions<R> {
  /** Writes one batch durably; the requests' promises settle from the batch's outcome. */
  commit(batch: R[]): Promise<void>;
  /** Payload bytes of a request, for the batch size bound. */
  bytesOf(r: R): number;
  groupCommit: boolean;
  batchBytesMax: number;
}

/**
 * Group commit for a block store: while one batch is being made durable, new requests wait in the
 * queue, and the next batch takes all of them (up to batchBytesMax), so one fsync covers many blocks.
 * Starting one microtask late lets the requests of the same tick (a client's pipelined frames) share
 * the first batch too. Requests are committed in arrival order.
 */
export class GroupCommitQueue<R extends { done: Settle }> {
  private queue: R[] = [];
  private draining: Promise<void> | null = null;

  constructor(private readonly o: GroupCommitOptions<R>) {}

  enqueue(make: (done: Settle) => R): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push(make({ resolve, reject }));
      if (!this.draining) this.draining = Promise.resolve().then(() => this.drain());
    });
  }

  /** Resolves once every request queued so far has been committed (or failed). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      try {
        await this.o.commit(batch);
      } catch (e) {
        for (const r of batch) r.done.reject(e);
      }
    }
    // Cleared in the same synchronous step that saw the queue empty: clearing it a microtask later
    // (in a .finally) strands a request enqueued in between, which then waits forever.
    this.draining = null;
  }

  private takeBatch(): R[] {
    if (!this.o.groupCommit) return [this.queue.shift()!];
    let bytes = 0, n = 0;
    while (n < this.queue.length) {
      const size = this.o.bytesOf(this.queue[n]!);
      if (n > 0 && bytes + size > this.o.batchBytesMax) break;
      bytes += size;
      n++;
    }
    return this.queue.splice(0, n);
  }
}
