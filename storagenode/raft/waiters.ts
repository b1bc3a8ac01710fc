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

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

/**
 * ReadIndex batching: calls made while a heartbeat round is in flight share the next round (they
 * cannot join the current one, whose commit index predates them). A confirmed round waits until
 * the state machine has applied its index.
 */
export class ReadTracker {
  private ctx = 0;
  private inFlight = 0;
  private next: Waiter[] = [];
  private rounds = new Map<number, Waiter[]>();
  private waitingApply: { index: number; waiters: Waiter[] }[] = [];

  constructor(
    private readonly readIndex: (ctx: number) => boolean,
    private readonly kick: () => void,
    private readonly applied: () => number,
    private readonly notLeader: () => Error,
  ) {}

  request(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.next.push({ resolve, reject });
      if (!this.inFlight) queueMicrotask(() => this.startRound());
    });
  }

  private startRound(): void {
    if (this.inFlight || !this.next.length) return;
    const waiters = this.next;
    this.next = [];
    const ctx = ++this.ctx;
    if (!this.readIndex(ctx)) {
      const e = this.notLeader();
      for (const w of waiters) w.reject(e);
      return;
    }
    this.inFlight = ctx;
    this.rounds.set(ctx, waiters);
    this.kick();
  }

  confirmed(ctx: number, index: number): void {
    const waiters = this.rounds.get(ctx);
    if (!waiters) return;
    this.rounds.delete(ctx);
    if (this.inFlight === ctx) this.inFlight = 0;
    this.waitingApply.push({ index, waiters });
    this.appliedTo(this.applied());
    this.startRound();
  }

  appliedTo(applied: number): void {
    if (!this.waitingApply.length) return;
    const still: typeof this.waitingApply = [];
    for (const w of this.waitingApply) {
      if (w.index <= applied) for (const x of w.waiters) x.resolve();
      else still.push(w);
    }
    this.waitingApply = still;
  }

  rejectAll(err: Error): void {
    const all = [...this.next, ...[...this.rounds.values()].flat(), ...this.waitingApply.flatMap((w) => w.waiters)];
    this.next = [];
    this.rounds.clear();
    this.waitingApply = [];
    this.inFlight = 0;
    for (const w of all) w.reject(err);
  }
}
