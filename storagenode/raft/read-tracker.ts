export interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

export interface ReadTrackerDeps {
  /** Starts a ReadIndex round in the core (false: not the leader). */
  readIndex(ctx: number): boolean;
  /** Runs the Ready loop so the round's heartbeats leave. */
  kick(): void;
  applied(): number;
  /** The leader's commit index now. */
  committed(): number;
  notLeader(): Error;
  /** A monotonic clock in ms (performance.now). */
  now(): number;
  /** How long a confirmed round lets this leader read locally after the round began; 0: never. */
  leaseMs: number;
}

/**
 * Linearizable reads on the leader.
 *
 * ReadIndex (dissertation §6.4): calls made while a heartbeat round is in flight share the next
 * round (they cannot join the current one, whose commit index predates them). A confirmed round
 * waits until the state machine has applied its index.
 *
 * Leader lease (dissertation §6.4.1): a round confirmed by a quorum also proves that each member of
 * that quorum received one of our heartbeats after the round began (at `startedAt`). Such a follower
 * then grants no vote in a higher term for electionTicks of its ticks, i.e. at least
 * (electionTicks - 1) * tickMs of its clock (core.ts, stepHigherTerm: leader stickiness under
 * CheckQuorum; a restarted node keeps the same quiet period, quietAfterStart). No other leader can
 * therefore be elected before startedAt + that time, measured on the follower's clock. The driver
 * gives us leaseMs = that time shrunk by a clock-rate drift margin, and we measure it with a
 * monotonic clock (immune to wall-clock steps; a paused process only sees the lease run out). Until
 * then every write acknowledged anywhere was committed by us, so reading once applied >= our commit
 * index at the time of the call is linearizable without a heartbeat round. Reads renew the lease in
 * the background once half of it is gone; a lapsed lease falls back to a ReadIndex round.
 */
export class ReadTracker {
  private ctx = 0;
  private inFlight = 0;
  private next: Waiter[] = [];
  private rounds = new Map<number, { startedAt: number; waiters: Waiter[] }>();
  private waitingApply: { index: number; waiters: Waiter[] }[] = [];
  private leaseUntil = 0;

  constructor(private readonly d: ReadTrackerDeps) {}

  request(): Promise<void> {
    const now = this.d.now();
    if (now < this.leaseUntil) {
      if (this.leaseUntil - now < this.d.leaseMs / 2) this.startRound(true);
      const index = this.d.committed();
      if (index <= this.d.applied()) return Promise.resolve();
      return new Promise((resolve, reject) => this.waitingApply.push({ index, waiters: [{ resolve, reject }] }));
    }
    return new Promise((resolve, reject) => {
      this.next.push({ resolve, reject });
      if (!this.inFlight) queueMicrotask(() => this.startRound(false));
    });
  }

  /** The lease holds and everything committed is applied: a read may run at once (renews as request does). */
  readyNow(): boolean {
    const now = this.d.now();
    if (now >= this.leaseUntil || this.d.committed() > this.d.applied()) return false;
    if (this.leaseUntil - now < this.d.leaseMs / 2) this.startRound(true);
    return true;
  }

  /** Leadership changed: whatever we proved about followers is void. */
  dropLease(): void {
    this.leaseUntil = 0;
  }

  private startRound(renewal: boolean): void {
    if (this.inFlight || (!this.next.length && !renewal)) return;
    const waiters = this.next;
    this.next = [];
    const ctx = ++this.ctx;
    const startedAt = this.d.now(); // before the core queues the round's heartbeats
    if (!this.d.readIndex(ctx)) {
      const e = this.d.notLeader();
      for (const w of waiters) w.reject(e);
      return;
    }
    this.inFlight = ctx;
    this.rounds.set(ctx, { startedAt, waiters });
    this.d.kick();
  }

  confirmed(ctx: number, index: number): void {
    const round = this.rounds.get(ctx);
    if (!round) return;
    this.rounds.delete(ctx);
    if (this.inFlight === ctx) this.inFlight = 0;
    if (this.d.leaseMs > 0) this.leaseUntil = Math.max(this.leaseUntil, round.startedAt + this.d.leaseMs);
    if (round.waiters.length) this.waitingApply.push({ index, waiters: round.waiters });
    this.appliedTo(this.d.applied());
    this.startRound(false);
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
    const all = [...this.next, ...[...this.rounds.values()].flatMap((r) => r.waiters), ...this.waitingApply.flatMap((w) => w.waiters)];
    this.next = [];
    this.rounds.clear();
    this.waitingApply = [];
    this.inFlight = 0;
    this.leaseUntil = 0;
    for (const w of all) w.reject(err);
  }
}
