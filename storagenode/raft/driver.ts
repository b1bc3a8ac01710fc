import { assert } from '../../shared/assert.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import type { NodeInfo } from '../../shared/types.js';
import { Invalid } from '../../shared/wire/validate.js';
import type { StateMachine } from '../state-machine.js';
import { RaftCore } from './core.js';
import { Applier } from './applier.js';
import { describeMessage, validateMessage, type RaftMessage, type SnapMsg } from './messages.js';
import { ReadTracker } from './read-tracker.js';
import { seededRng } from './rng.js';
import { SnapshotReceiver, iterate, streamSnapshot } from './snapshot-transfer.js';
import { RaftStorage } from './storage.js';
import type { Entry, Ready, SnapshotMeta, SoftState } from './types.js';
import { NotLeaderError, WaitList } from './waiters.js';
import { trace, traceInit, tracing } from './trace.js';

export { NotLeaderError } from './waiters.js';
export type { RaftMessage } from './messages.js';

export interface RaftNodeOptions {
  id: string;
  dir: string;
  /** Used only to bootstrap an empty log. A node joining an existing cluster is given members that do not include itself. */
  initialMembers: NodeInfo[];
  stateMachine: StateMachine;
  send(to: string, msg: RaftMessage): void;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  snapshotEntries?: number;
  /** Entries kept behind a compaction for slow followers (default 300). */
  snapshotKeepEntries?: number;
  /** Serve reads under a leader lease (read-tracker.ts) instead of a ReadIndex round each; default true. */
  leaseReads?: boolean;
  logger?: Logger;
  seed?: number;
}

export type RaftRole = 'leader' | 'follower' | 'candidate' | 'learner';
export interface RaftStatus {
  id: string;
  role: RaftRole;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  members: NodeInfo[];
  matchIndex: Record<string, number>;
}

/** Thrown by addMember/removeMember while another change is uncommitted (retry later). */
export class ConfChangeInProgressError extends Error {
  constructor() {
    super('a membership change is already in progress');
    this.name = 'ConfChangeInProgressError';
  }
}

/** Clocks may run this much faster or slower than each other over one election timeout. */
const LEASE_DRIFT = 0.15;

/**
 * The I/O shell around RaftCore: ticks it on a timer, feeds it validated messages, and runs the Ready
 * loop: persist (storage.ts; synced when it holds entries or a new term or vote), send,
 * hand committed entries to the applier, advance. A leader sends before it persists (dissertation
 * §10.2.1): followers store the entries in parallel with it, and the core counts the leader's own
 * copy toward a commit only once advance() reports it durable. Followers still persist before they
 * answer. Entries the applier gets are durable here; it applies them on its own pipeline (applier.ts),
 * so the next fsync never waits for an apply. Everything proposed while one fsync runs goes into the
 * next one (group commit).
 */
export class RaftNode {
  private timer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private closed = false;
  private failure: Error | null = null;
  private readonly proposals = new WaitList();
  private readonly reads: ReadTracker;
  private readonly applier: Applier;
  private readonly snapshots = new SnapshotReceiver();
  private readonly sending = new Set<string>();
  private readonly leaderCbs: ((leader: string | null, term: number) => void)[] = [];
  private leaderlessSince = performance.now();
  private readonly log: Logger;

  private constructor(
    private readonly o: RaftNodeOptions,
    private readonly core: RaftCore,
    private readonly storage: RaftStorage,
  ) {
    this.log = o.logger ?? silentLogger;
    const electionMs = (o.tickMs ?? 100) * ((o.electionTicks ?? 10) - 1);
    this.reads = new ReadTracker({
      readIndex: (ctx) => core.readIndex(ctx),
      kick: () => this.schedule(),
      applied: () => o.stateMachine.applied().index,
      committed: () => core.log.committed,
      notLeader: () => new NotLeaderError(core.lead),
      now: () => performance.now(),
      leaseMs: o.leaseReads === false ? 0 : Math.floor(electionMs * (1 - LEASE_DRIFT)),
    });
    this.applier = new Applier(o.stateMachine, {
      applied: (e, result) => this.settle(e, result),
      appliedTo: (index) => {
        if (this.closed) return;
        if (tracing) trace('stored', index);
        this.core.appliedTo(index);
        this.reads.appliedTo(index);
        this.schedule();
      },
      failed: (e) => this.fail(e),
    });
  }

  static async open(o: RaftNodeOptions): Promise<RaftNode> {
    const storage = await RaftStorage.open(o.dir);
    try {
      const loaded = await storage.load(o.initialMembers);
      let snapshot = loaded.snapshot;
      let entries = loaded.entries;
      const applied = o.stateMachine.applied();
      if (loaded.pendingSnapshot) {
        // A crash during an install: finish it if the state machine holds the image, else forget it.
        if (applied.index >= loaded.pendingSnapshot.index) {
          await storage.finishSnapshot(loaded.pendingSnapshot);
          snapshot = loaded.pendingSnapshot;
          entries = [];
        } else await storage.abandonSnapshot();
      }
      const last = snapshot.index + entries.length;
      if (applied.index < snapshot.index || applied.index > last) {
        throw new Error(`state machine applied ${applied.index} is outside the raft log [${snapshot.index}, ${last}]`);
      }
      const core = new RaftCore({
        id: o.id, rng: seededRng(o.seed ?? hashId(o.id)), electionTicks: o.electionTicks ?? 10,
        heartbeatTicks: o.heartbeatTicks ?? 1, snapshot, entries, hardState: loaded.hardState, applied: applied.index,
        quietAfterStart: o.leaseReads !== false,
      });
      const node = new RaftNode(o, core, storage);
      node.log.info(`${o.id}: ${loaded.fresh ? 'bootstrapped' : 'restarted'} at term ${core.term}, log ${snapshot.index + 1}..${last}, applied ${applied.index}, members ${core.members().map((m) => m.id).join(',') || '(none)'}`);
      node.timer = setInterval(() => node.onTick(), o.tickMs ?? 100);
      traceInit(o.id);
      return node;
    } catch (e) {
      await storage.close();
      throw e;
    }
  }

  receive(x: unknown): void {
    if (this.closed) return;
    const m = validateMessage(x);
    if (m instanceof Invalid) return this.log.warn(`${this.o.id}: dropped an invalid raft message: ${m}`);
    if (m.to !== this.o.id) return this.log.warn(`${this.o.id}: dropped a raft message for ${m.to}`);
    if (tracing) {
      if (m.type === 'app' && m.entries.length) trace('frx', m.entries[m.entries.length - 1]!.index);
      if (m.type === 'appResp' && !m.reject) trace(`ack-${m.from}`, m.index);
    }
    if (m.type === 'app') {
      // Entries are views into the received frame; they live in the in-memory log until the next
      // compaction (10,000 entries), so each gets its own copy rather than pinning the frame's memory.
      for (const e of m.entries) if (e.data.byteLength) e.data = Uint8Array.prototype.slice.call(e.data);
    }
    if (m.type === 'snapChunk') {
      const snap = this.snapshots.add(m);
      if (!snap) return;
      this.log.info(`${this.o.id}: received snapshot ${snap.snapshot.index}/${snap.snapshot.term} from ${m.from} in ${m.seq + 1} chunks`);
      this.core.step(snap);
    } else this.core.step(m);
    this.schedule();
  }

  propose(data: Uint8Array): Promise<unknown> {
    const closed = this.closedError();
    if (closed) return Promise.reject(closed);
    const r = this.core.propose(data);
    if (!r.ok) {
      if (r.reason === 'too-large') return Promise.reject(new RangeError(`raft entry of ${data.byteLength} bytes is too large`));
      return Promise.reject(new NotLeaderError(this.core.lead));
    }
    if (tracing) trace('prop', r.index);
    this.schedule();
    return this.proposals.add(r.index, r.term);
  }

  readBarrier(): Promise<void> {
    const closed = this.closedError();
    if (closed) return Promise.reject(closed);
    if (this.core.role !== 'leader') return Promise.reject(new NotLeaderError(this.core.lead));
    return this.reads.request();
  }

  /** Whether a linearizable read may run right now, with no wait: see ReadTracker.readyNow. */
  readyForLocalRead(): boolean {
    return !this.closedError() && this.core.role === 'leader' && this.reads.readyNow();
  }

  isLeader(): boolean {
    return this.core.role === 'leader';
  }

  addMember(m: NodeInfo): Promise<void> {
    return this.changeMembers({ type: 'add', node: { ...m } });
  }
  removeMember(id: string): Promise<void> {
    return this.changeMembers({ type: 'remove', id });
  }

  private async changeMembers(cc: Parameters<RaftCore['proposeConfChange']>[0]): Promise<void> {
    const closed = this.closedError();
    if (closed) throw closed;
    const r = this.core.proposeConfChange(cc);
    if (!r.ok) {
      if (r.reason === 'no-op') return;
      if (r.reason === 'conf-pending') throw new ConfChangeInProgressError();
      if (r.reason === 'invalid') throw new Error('cannot remove the last member');
      throw new NotLeaderError(this.core.lead);
    }
    this.log.info(`${this.o.id}: proposed ${cc.type === 'add' ? `adding ${cc.node.id}` : `removing ${cc.id}`} at index ${r.index}`);
    this.schedule();
    await this.proposals.add(r.index, r.term);
  }

  status(): RaftStatus {
    const c = this.core;
    let role: RaftRole = c.role === 'preCandidate' ? 'candidate' : c.role;
    if (role === 'follower' && !c.isMember(this.o.id)) role = 'learner';
    return {
      id: this.o.id, role, term: c.term, leader: c.lead, commitIndex: c.log.committed,
      appliedIndex: this.o.stateMachine.applied().index, lastIndex: c.log.lastIndex(), snapshotIndex: c.log.snap.index,
      members: this.members(), matchIndex: c.role === 'leader' ? c.matchIndexes() : {},
    };
  }

  members(): NodeInfo[] {
    return this.core.members().map((m) => ({ ...m }));
  }

  onLeaderChange(cb: (leader: string | null, term: number) => void): void {
    this.leaderCbs.push(cb);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.loop?.catch(() => {});
    await this.applier.idle();
    const err = new NotLeaderError(null, 'raft node closed');
    this.proposals.rejectAll(err);
    this.reads.rejectAll(err);
    await this.storage.close();
  }

  // ---- the Ready loop ----------------------------------------------------------------------------

  private onTick(): void {
    if (this.closed) return;
    this.core.tick();
    this.schedule();
  }

  private schedule(): void {
    if (this.loop || this.closed) return;
    this.loop = this.runLoop().finally(() => {
      this.loop = null;
      if (this.core.hasReady() && !this.closed) this.schedule();
    });
  }

  private async runLoop(): Promise<void> {
    await Promise.resolve(); // batch work queued in this turn into one Ready
    try {
      while (!this.closed && this.core.hasReady()) {
        const rd = this.core.ready();
        await this.handleReady(rd);
        // The applier reports applied entries itself (core.appliedTo), once they are stored.
        this.core.advance({ ...rd, committed: [] });
        await this.maybeCompact();
      }
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /** Persisting or applying failed: continuing could fork the replicas, so this node stops. */
  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    this.log.error(`${this.o.id}: raft stopped: ${e.stack ?? e}`);
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.applier.stop();
    this.proposals.rejectAll(e);
    this.reads.rejectAll(e);
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState);
    if (rd.snapshot) await this.installSnapshot(rd.snapshot);
    // A leader's messages depend on nothing this Ready persists unless its term or vote changes
    // (then it is no longer leader, or was not yet); a follower's answers vouch for what it stores.
    const early = this.core.role === 'leader' && !this.storage.needsSync(rd.hardState, []);
    const sync = this.storage.needsSync(rd.hardState, rd.entries);
    if (tracing && rd.committed.length) trace('commit', rd.committed[rd.committed.length - 1]!.index);
    if (early) this.sendAll(rd.messages);
    const saved = this.storage.save(rd.hardState, rd.entries);
    // An unsynced write (the commit index alone) need not finish first: later writes queue behind it.
    if (sync) await saved;
    else saved.catch((e) => this.fail(e as Error));
    if (tracing && rd.entries.length) trace('pers', rd.entries[rd.entries.length - 1]!.index);
    if (!early) this.sendAll(rd.messages);
    this.applier.push(rd.committed);
    for (const rs of rd.readStates) this.reads.confirmed(rs.ctx, rs.index);
  }

  private sendAll(messages: RaftMessage[]): void {
    for (const m of messages) {
      if (m.type === 'snap') this.sendSnapshot(m);
      else {
        if (tracing && m.type === 'app' && m.entries.length) trace(`send-${m.to}`, m.entries[m.entries.length - 1]!.index);
        if (tracing && m.type === 'appResp') trace('fack', m.index);
        this.o.send(m.to, m);
      }
    }
  }

  private settle(e: Entry, result: unknown): void {
    if (tracing) trace('settle', e.index);
    if (e.type === 'conf') this.log.info(`${this.o.id}: members now ${e.members!.map((m) => m.id).join(',')} (index ${e.index})`);
    this.proposals.settle(e.index, e.term, result, () => new NotLeaderError(this.core.lead, 'leadership lost before the entry committed'));
  }

  private onSoftState(s: SoftState): void {
    const now = performance.now();
    if (s.role === 'leader') {
      this.log.info(`${this.o.id}: elected leader for term ${s.term} after ${Math.round(now - this.leaderlessSince)} ms`);
    } else if (s.leader) {
      this.log.info(`${this.o.id}: following ${s.leader} in term ${s.term}`);
    } else {
      this.leaderlessSince = now;
      this.log.info(`${this.o.id}: no leader in term ${s.term} (${s.role})`);
    }
    this.reads.dropLease();
    if (s.role !== 'leader') {
      // Entries past the commit index may be overwritten by the next leader: their proposers learn now.
      const err = new NotLeaderError(s.leader, 'leadership lost before the entry committed');
      this.proposals.rejectAbove(this.core.log.committed, err);
      this.reads.rejectAll(err);
    }
    for (const cb of this.leaderCbs) cb(s.leader, s.term);
  }

  private async installSnapshot(meta: SnapshotMeta): Promise<void> {
    const chunks = this.snapshots.take(meta);
    assert(chunks, `the core accepted snapshot ${meta.index}/${meta.term} but no image was received`);
    await this.applier.idle(); // entries before the image finish first; the image replaces them
    await this.storage.beginSnapshot(meta);
    await this.o.stateMachine.restoreSnapshot(meta.index, meta.term, iterate(chunks));
    await this.storage.finishSnapshot(meta);
    this.applier.resetTo(meta.index);
    this.reads.appliedTo(meta.index);
    this.log.info(`${this.o.id}: installed snapshot at index ${meta.index} term ${meta.term}`);
  }

  /** Streams the state machine's current image; the metadata follows the image, not the request. */
  private sendSnapshot(m: SnapMsg): void {
    if (this.sending.has(m.to)) return; // one transfer per follower; the core retries later
    const image = this.o.stateMachine.exportSnapshot();
    const meta = this.core.snapshotMetaAt(image.index);
    if (!meta || meta.term !== image.term) {
      this.log.warn(`${this.o.id}: no snapshot to send to ${m.to} (image ${image.index}/${image.term})`);
      return this.core.reportSnapshot(m.to, false);
    }
    this.sending.add(m.to);
    this.log.info(`${this.o.id}: sending snapshot ${meta.index}/${meta.term} to ${m.to}`);
    streamSnapshot(image, meta, { from: this.o.id, to: m.to, term: m.term }, (c) => this.o.send(c.to, c), () => this.closed)
      .then(() => this.core.reportSnapshot(m.to, true), (e) => {
        this.log.warn(`${this.o.id}: snapshot to ${m.to} failed: ${(e as Error).message}`);
        this.core.reportSnapshot(m.to, false);
      })
      .finally(() => {
        this.sending.delete(m.to);
        this.schedule();
      });
  }

  /** Compaction (§7): once the state machine is durable far enough past the last point, drop old entries. */
  private async maybeCompact(): Promise<void> {
    const every = this.o.snapshotEntries ?? 10_000;
    const keep = this.o.snapshotKeepEntries ?? 300;
    const applied = this.core.log.applied;
    if (applied - keep - this.core.log.snap.index < every) return;
    await this.o.stateMachine.flush();
    this.core.compact(applied - keep);
    await this.storage.compact(this.core.log.snap);
    this.log.debug(`${this.o.id}: compacted the log through ${this.core.log.snap.index}`);
  }

  private closedError(): Error | null {
    if (this.failure) return this.failure;
    return this.closed ? new NotLeaderError(null, 'raft node closed') : null;
  }
}

function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h ^ (performance.timeOrigin >>> 0);
}

export { describeMessage };
