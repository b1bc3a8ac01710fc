/**
 * What the leader knows about one follower's log (Figure 2 nextIndex/matchIndex), with etcd's flow
 * states: probe (one append at a time until we find where the logs match), replicate (stream up to
 * INFLIGHT_MAX appends), snapshot (wait for an InstallSnapshot to land).
 */
export const INFLIGHT_MAX = 64;

export class Progress {
  match = 0;
  next: number;
  state: 'probe' | 'replicate' | 'snapshot' = 'probe';
  pendingSnapshot = 0;
  /** Ticks spent waiting in the snapshot state; a lost transfer is retried after a while. */
  snapshotTicks = 0;
  /** Heard from within the last election timeout (CheckQuorum, §6.2). */
  recentActive = false;
  probeSent = false;
  /** Last index of each append in flight, ascending. */
  inflights: number[] = [];

  constructor(next: number) {
    this.next = next;
  }

  isPaused(): boolean {
    if (this.state === 'probe') return this.probeSent;
    if (this.state === 'snapshot') return true;
    return this.inflights.length >= INFLIGHT_MAX;
  }

  /** A successful append response: returns whether match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A refused append for prevIndex `rejected`; `hint` is where the logs may match. Stale refusals
   * (for an append we have moved past) are ignored; returns whether next moved.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  becomeProbe(): void {
    this.next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.state = 'probe';
    this.pendingSnapshot = 0;
    this.inflights = [];
    this.probeSent = false;
  }
  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.inflights = [];
  }
  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.snapshotTicks = 0;
    this.inflights = [];
  }
  /** Appends up to `index` are acknowledged. */
  freeTo(index: number): void {
    let k = 0;
    while (k < this.inflights.length && this.inflights[k]! <= index) k++;
    if (k) this.inflights = this.inflights.slice(k);
  }
}
