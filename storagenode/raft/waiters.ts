/** Rejected when this node cannot serve a leader-only call; `leaderId` is the leader it knows of, if any. */
export class NotLeaderError extends Error {
  constructor(readonly leaderId: string | null, message?: string) {
    super(message ?? (leaderId ? `not the leader; the leader is ${leaderId}` : 'not the leader; no leader known'));
    this.name = 'NotLeaderError';
  }
}

interface Pending {
  term: number;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** Proposals waiting for their entry to be applied, by log index. */
export class WaitList {
  private byIndex = new Map<number, Pending>();

  add(index: number, term: number): Promise<unknown> {
    return new Promise((resolve, reject) => this.byIndex.set(index, { term, resolve, reject }));
  }

  /** The entry at index was applied: it is ours only if its term is the one we proposed in. */
  settle(index: number, term: number, result: unknown, lost: () => Error): void {
    const p = this.byIndex.get(index);
    if (!p) return;
    this.byIndex.delete(index);
    if (p.term === term) p.resolve(result);
    else p.reject(lost());
  }

  rejectAbove(index: number, err: Error): void {
    for (const [i, p] of this.byIndex) {
      if (i <= index) continue;
      this.byIndex.delete(i);
      p.reject(err);
    }
  }

  rejectAll(err: Error): void {
    this.rejectAbove(-1, err);
  }
}
