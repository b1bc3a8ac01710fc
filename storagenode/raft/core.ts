import { assert } from '../../shared/assert.js';
import type { NodeInfo } from '../../shared/types.js';
import { RAFT_APPEND_BYTES_MAX, RAFT_ENTRIES_PER_APPEND_MAX, RAFT_ENTRY_BYTES_MAX } from '../../shared/limits.js';
import { RaftLog } from './log.js';
import type {
  AppendMsg, AppendRespMsg, HeartbeatMsg, HeartbeatRespMsg, RaftMessage, SnapMsg, VoteMsg, VoteRespMsg,
} from './messages.js';
import { Progress } from './progress.js';
import type {
  ConfChange, Entry, HardState, ProposeResult, ReadState, Ready, Rng, Role, SnapshotMeta, SoftState,
} from './types.js';

/**
 * Raft as a pure, synchronous state machine (the etcd/raft pattern): step(msg), tick(), propose(),
 * readIndex(), proposeConfChange() change state and queue work; ready() hands the work out; advance()
 * acknowledges it. No I/O, no clock, no ambient randomness: the same inputs give the same outputs,
 * which is what lets test/sim replay a failure from its seed.
 *
 * Section references: "§n" is the Raft paper (Ongaro & Ousterhout 2014), "dissertation §n" is
 * Ongaro's PhD dissertation (2014).
 */
export interface CoreOptions {
  id: string;
  rng: Rng;
  /** Followers wait a random number of ticks in [electionTicks, 2*electionTicks) before campaigning (§5.2). */
  electionTicks: number;
  heartbeatTicks: number;
  /** Where the log starts; for an empty log {index 0, term 0, members: the bootstrap membership}. */
  snapshot: SnapshotMeta;
  entries?: Entry[];
  hardState?: HardState;
  /** The state machine's applied index; committed entries after it are handed out again. */
  applied?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /**
   * Grant no higher-term vote for electionTicks ticks after construction (see ticksSinceStart). The
   * driver turns it on because it serves reads under a leader lease; off by default so unit tests can
   * elect a node by ticking it alone.
   */
  quietAfterStart?: boolean;
}

interface ReadRequest {
  ctx: number;
  index: number;
  acks: Set<string>;
}

export class RaftCore {
  readonly id: string;
  term = 0;
  vote: string | null = null;
  lead: string | null = null;
  role: Role = 'follower';
  readonly log: RaftLog;

  private readonly rng: Rng;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private electionElapsed = 0;
  /**
   * Ticks since this core was constructed (a start or restart), capped at electionTicks. Until it
   * reaches electionTicks the node grants no vote in a higher term, as if it had just heard from a
   * leader: a restart forgets who led, and without this a restarted follower could help elect a new
   * leader while the old one still serves reads under its lease (dissertation §6.4.1; see lease.ts).
   */
  private ticksSinceStart = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private prs = new Map<string, Progress>();
  private votes = new Map<string, boolean>();
  /** Index of the last configuration entry this leader appended; one change at a time (dissertation §4.1). */
  private pendingConfIndex = 0;
  private msgs: RaftMessage[] = [];
  /**
   * Entries were appended since the last broadcast: ready() sends them, so proposals made in one turn
   * of the driver go to each follower as one append instead of one append each.
   */
  private appendPending = false;
  private readStates: ReadState[] = [];
  /** ReadIndex requests waiting for a heartbeat quorum, oldest first. */
  private readQueue: ReadRequest[] = [];
  /** ReadIndex requests waiting for this leader's first commit in its term (dissertation §6.4). */
  private readsBeforeCommit: number[] = [];
  private pendingSnapshot: SnapshotMeta | null = null;
  /** Committed entries up to here were handed out by ready() and not yet acknowledged. */
  private applying: number;
  private prevHardState: HardState;
  private prevSoftState: SoftState;

  constructor(o: CoreOptions) {
    assert(o.electionTicks > o.heartbeatTicks && o.heartbeatTicks > 0, 'election timeout exceeds heartbeat');
    this.id = o.id;
    this.rng = o.rng;
    this.electionTicks = o.electionTicks;
    this.heartbeatTicks = o.heartbeatTicks;
    this.preVote = o.preVote ?? true;
    this.checkQuorum = o.checkQuorum ?? true;
    if (!o.quietAfterStart) this.ticksSinceStart = this.electionTicks;
    const hs = o.hardState ?? { term: 0, vote: null, commit: 0 };
    // A state machine restored from a snapshot may be ahead of the commit we persisted.
    const applied = o.applied ?? o.snapshot.index;
    this.log = new RaftLog(o.snapshot, o.entries ?? [], Math.max(hs.commit, applied), applied);
    this.term = hs.term;
    this.vote = hs.vote;
    this.applying = this.log.applied;
    this.prevHardState = this.hardState();
    this.becomeFollower(this.term, null);
    this.prevSoftState = this.softState();
  }

  // ---- inputs ------------------------------------------------------------------------------------

  tick(): void {
    if (this.ticksSinceStart < this.electionTicks) this.ticksSinceStart++;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Appends a command if this node leads; the entry still has to commit. */
  propose(data: Uint8Array): ProposeResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader' };
    if (data.byteLength > RAFT_ENTRY_BYTES_MAX) return { ok: false, reason: 'too-large' };
    // A leader outside its latest configuration is on its way out and takes no new work.
    if (!this.isMember(this.id)) return { ok: false, reason: 'not-leader' };
    const e = this.appendEntry('normal', data);
    return { ok: true, index: e.index, term: e.term };
  }

  /**
   * One server added or removed per configuration entry, effective once appended (dissertation
   * §4.1). A new change waits until the previous one commits, and until this leader has committed an
   * entry of its term (the fix to single-server changes, Ongaro's raft-dev post of 2015).
   */
  proposeConfChange(cc: ConfChange): ProposeResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader' };
    if (this.pendingConfIndex > this.log.committed || this.log.term(this.log.committed) !== this.term) {
      return { ok: false, reason: 'conf-pending' };
    }
    const cur = this.log.config();
    let next: NodeInfo[];
    if (cc.type === 'add') {
      if (cur.some((n) => n.id === cc.node.id)) return { ok: false, reason: 'no-op' };
      next = [...cur, { ...cc.node }];
    } else {
      if (!cur.some((n) => n.id === cc.id)) return { ok: false, reason: 'no-op' };
      next = cur.filter((n) => n.id !== cc.id);
      if (next.length === 0) return { ok: false, reason: 'invalid' };
    }
    const e = this.appendEntry('conf', new Uint8Array(0), next);
    this.pendingConfIndex = e.index;
    return { ok: true, index: e.index, term: e.term };
  }

  /**
   * ReadIndex (dissertation §6.4): remember the commit index, confirm leadership with a heartbeat
   * round, then hand out {index, ctx} in readStates. A new leader first commits an entry of its term,
   * because until then it does not know the true commit index. Returns false if not leader.
   */
  readIndex(ctx: number): boolean {
    assert(ctx > 0, 'read ctx is positive');
    if (this.role !== 'leader') return false;
    if (this.log.term(this.log.committed) !== this.term) this.readsBeforeCommit.push(ctx);
    else this.startRead(ctx);
    return true;
  }

  /** The driver's report on a snapshot transfer it streamed; a failure makes us probe again. */
  reportSnapshot(to: string, ok: boolean): void {
    const pr = this.prs.get(to);
    if (this.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
    if (!ok) pr.becomeProbe();
    else pr.probeSent = true; // wait for the follower's append response before sending more
  }

  step(m: RaftMessage): void {
    if (m.to !== this.id || m.type === 'snapChunk') return;
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === 'vote' || m.type === 'preVote') return this.handleVote(m);
    switch (this.role) {
      case 'leader': return this.stepLeader(m);
      case 'candidate': case 'preCandidate': return this.stepCandidate(m);
      case 'follower': return this.stepFollower(m);
    }
  }

  // ---- outputs -----------------------------------------------------------------------------------

  hasReady(): boolean {
    return this.msgs.length > 0 || this.appendPending || this.readStates.length > 0 || this.pendingSnapshot !== null ||
      this.log.lastIndex() > this.log.stabled || this.log.committed > this.applying ||
      !sameHardState(this.hardState(), this.prevHardState) || !sameSoftState(this.softState(), this.prevSoftState);
  }

  ready(): Ready {
    if (this.appendPending) this.bcastAppend();
    this.appendPending = false;
    const rd: Ready = {
      entries: this.log.entries.slice(Math.max(0, this.log.stabled - this.log.snap.index)),
      messages: this.msgs,
      committed: [],
      readStates: this.readStates,
    };
    for (let i = Math.max(this.applying, this.log.snap.index) + 1; i <= this.log.committed; i++) rd.committed.push(this.log.entry(i)!);
    if (rd.committed.length) this.applying = rd.committed[rd.committed.length - 1]!.index;
    const hs = this.hardState();
    if (!sameHardState(hs, this.prevHardState)) rd.hardState = this.prevHardState = hs;
    const ss = this.softState();
    if (!sameSoftState(ss, this.prevSoftState)) rd.softState = this.prevSoftState = ss;
    if (this.pendingSnapshot) rd.snapshot = this.pendingSnapshot;
    this.pendingSnapshot = null;
    this.msgs = [];
    this.readStates = [];
    return rd;
  }

  /** The driver persisted, sent and applied everything in rd. */
  advance(rd: Ready): void {
    const last = rd.entries[rd.entries.length - 1];
    // Entries overwritten since ready() stay unstable: only what is still in the log is on disk.
    if (last && this.log.matchTerm(last.index, last.term)) this.log.stabled = Math.max(this.log.stabled, last.index);
    if (rd.snapshot) this.log.stabled = Math.max(this.log.stabled, rd.snapshot.index);
    const applied = rd.committed[rd.committed.length - 1];
    if (applied) this.log.applied = Math.max(this.log.applied, applied.index);
    this.applying = Math.max(this.applying, this.log.applied);
    if (this.role === 'leader') {
      // The leader counts its own log toward a majority only once it is durable (§5.3, Figure 2).
      const self = this.prs.get(this.id);
      if (self?.maybeUpdate(this.log.stabled) && this.maybeCommit()) this.sendPendingEntries();
    }
  }

  /**
   * For a driver that applies off the Ready loop (it passes advance() a Ready without `committed`):
   * the state machine has applied everything up to index.
   */
  appliedTo(index: number): void {
    assert(index <= this.log.committed, `applied ${index} past commit ${this.log.committed}`);
    if (index <= this.log.applied) return;
    this.log.applied = index;
    this.applying = Math.max(this.applying, index);
  }

  /** Drops log entries up to index, which the state machine has made durable (§7). */
  compact(index: number): void {
    this.log.compact(Math.min(index, this.log.applied));
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }
  softState(): SoftState {
    return { leader: this.lead, role: this.role, term: this.term };
  }
  members(): NodeInfo[] {
    return this.log.config();
  }
  isMember(id: string): boolean {
    return this.log.config().some((n) => n.id === id);
  }
  /** For status(): the leader's view of each follower's matchIndex. */
  matchIndexes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, pr] of this.prs) out[id] = pr.match;
    return out;
  }
  /** The metadata of an image at `index` (the driver fills in the bytes). */
  snapshotMetaAt(index: number): SnapshotMeta | undefined {
    const term = this.log.term(index);
    if (term === undefined) return undefined;
    return { index, term, members: this.log.configAt(index) };
  }

  // ---- role changes ------------------------------------------------------------------------------

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + Math.floor(this.rng.next() * this.electionTicks);
    this.votes.clear();
    this.prs.clear();
    this.readQueue = [];
    this.readsBeforeCommit = [];
    this.pendingConfIndex = 0;
    this.appendPending = false;
  }

  private becomeFollower(term: number, lead: string | null): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  /** PreVote (dissertation §9.6): ask whether we could win before disturbing anyone's term. */
  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not campaign');
    this.votes.clear();
    this.lead = null;
    this.role = 'preCandidate';
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not campaign');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  /** §5.2, §8: a new leader appends a no-op so entries of earlier terms can commit (§5.4.2). */
  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    for (const n of this.log.config()) {
      const pr = new Progress(this.log.lastIndex() + 1);
      if (n.id === this.id) pr.match = this.log.stabled;
      pr.recentActive = true;
      this.prs.set(n.id, pr);
    }
    // Conservative: no configuration change until everything up to here is committed.
    this.pendingConfIndex = this.log.lastIndex();
    this.appendEntry('normal', new Uint8Array(0));
  }

  private campaign(pre: boolean): void {
    if (pre) this.becomePreCandidate();
    else this.becomeCandidate();
    const term = pre ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (this.tally() === 'won') return this.winElection(pre);
    for (const n of this.log.config()) {
      if (n.id === this.id) continue;
      this.send({
        type: pre ? 'preVote' : 'vote', from: this.id, to: n.id, term,
        lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm(),
      });
    }
  }

  private winElection(pre: boolean): void {
    if (pre) this.campaign(false);
    else this.becomeLeader();
  }

  private tally(): 'won' | 'lost' | 'pending' {
    const voters = this.log.config();
    let granted = 0;
    let rejected = 0;
    for (const n of voters) {
      const v = this.votes.get(n.id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = quorum(voters.length);
    if (granted >= q) return 'won';
    if (rejected > voters.length - q) return 'lost';
    return 'pending';
  }

  // ---- ticks -------------------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    // A removed node's clock keeps running so that, once it stops hearing from a leader, it no
    // longer ignores candidates (stepHigherTerm).
    if (this.electionElapsed < this.randomizedElectionTimeout || !this.promotable()) return;
    this.electionElapsed = 0;
    this.campaign(this.preVote);
  }

  /**
   * Dissertation §4.2.2: a server outside its latest configuration still campaigns while that
   * configuration is uncommitted (it may hold entries the new majority needs; it does not count its own
   * vote), and stops once the change is committed.
   */
  private promotable(): boolean {
    return this.isMember(this.id) || this.log.lastConfIndex() > this.log.committed;
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      // CheckQuorum (dissertation §6.2): a leader that has not heard from a majority for an
      // election timeout steps down, so clients on its side of a partition look elsewhere.
      if (this.checkQuorum && !this.quorumActive()) return this.becomeFollower(this.term, null);
      for (const [id, pr] of this.prs) pr.recentActive = id === this.id;
    }
    for (const pr of this.prs.values()) {
      // A snapshot transfer that never produced a response is retried after two election timeouts.
      if (pr.state === 'snapshot' && ++pr.snapshotTicks > 2 * this.electionTicks) pr.becomeProbe();
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  private quorumActive(): boolean {
    const voters = this.log.config();
    let active = 0;
    for (const n of voters) if (n.id === this.id || this.prs.get(n.id)?.recentActive) active++;
    return active >= quorum(voters.length);
  }

  // ---- message handling --------------------------------------------------------------------------

  /** Returns false when the message must be dropped. */
  private stepHigherTerm(m: RaftMessage): boolean {
    if (m.type === 'vote' || m.type === 'preVote') {
      // Leader stickiness (dissertation §4.2.3, §9.6): while we hear from a leader, ignore anyone
      // trying to start an election, so a partitioned or removed node cannot disrupt the cluster.
      const inLease = this.checkQuorum && (
        (this.lead !== null && this.electionElapsed < this.electionTicks) || this.ticksSinceStart < this.electionTicks);
      if (inLease) return false;
    }
    if (m.type === 'preVote') return true; // a PreVote never changes our term
    if (m.type === 'preVoteResp' && !m.reject) return true; // granted PreVotes carry the future term
    const lead = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap' ? m.from : null;
    this.becomeFollower(m.term, lead);
    return true;
  }

  private stepLowerTerm(m: RaftMessage): void {
    if (m.type === 'app' || m.type === 'heartbeat') {
      // A stale leader (e.g. one that was partitioned away) learns our term from this and steps down;
      // without it, PreVote + CheckQuorum could leave it heartbeating forever.
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: 0, reject: true, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === 'preVote') {
      this.send({ type: 'preVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  /** §5.2, §5.4.1: one vote per term, only for a candidate whose log is at least as up to date. */
  private handleVote(m: VoteMsg): void {
    const resp = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    const canVote = this.vote === m.from || (this.vote === null && this.lead === null) ||
      (m.type === 'preVote' && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      // The grant carries the candidate's term so the response is not dropped as stale.
      this.send({ type: resp, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: resp, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private stepFollower(m: RaftMessage): void {
    if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
      this.electionElapsed = 0;
      this.lead = m.from;
      this.handleFromLeader(m);
    }
  }

  private stepCandidate(m: RaftMessage): void {
    if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
      // Someone won this term (§5.2).
      this.becomeFollower(this.term, m.from);
      this.handleFromLeader(m);
      return;
    }
    const want = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    if (m.type !== want) return;
    this.votes.set(m.from, !m.reject);
    const r = this.tally();
    if (r === 'won') this.winElection(this.role === 'preCandidate');
    else if (r === 'lost') this.becomeFollower(this.term, null);
  }

  private handleFromLeader(m: AppendMsg | HeartbeatMsg | SnapMsg): void {
    if (m.type === 'app') this.handleAppend(m);
    else if (m.type === 'heartbeat') this.handleHeartbeat(m);
    else this.handleSnapshot(m);
  }

  private handleAppend(m: AppendMsg): void {
    const reply = (index: number, reject: boolean, hintIndex = 0, hintTerm = 0) =>
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index, reject, hintIndex, hintTerm });
    if (m.prevIndex < this.log.committed) return reply(this.log.committed, false);
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew !== null) return reply(lastNew, false);
    // §5.3 optimisation: tell the leader where our log may match so it skips whole terms at once.
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    reply(m.prevIndex, true, hint.index, hint.term);
  }

  private handleHeartbeat(m: HeartbeatMsg): void {
    // The leader sends min(match, commit), so the entries it vouches for are ours.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, ctx: m.ctx });
  }

  /** §7 InstallSnapshot: a snapshot past our commit replaces the log (unless our log already has it). */
  private handleSnapshot(m: SnapMsg): void {
    const s = m.snapshot;
    let index = this.log.committed;
    if (s.index > this.log.committed) {
      if (this.log.matchTerm(s.index, s.term)) {
        this.log.commitTo(s.index); // our log already holds it: just move commit forward
        index = s.index;
      } else {
        this.log.restore({ index: s.index, term: s.term, members: s.members.map((n) => ({ ...n })) });
        this.pendingSnapshot = this.log.snap;
        this.applying = s.index;
        index = s.index;
      }
    }
    this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index, reject: false, hintIndex: 0, hintTerm: 0 });
  }

  private stepLeader(m: RaftMessage): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    if (m.type === 'appResp') {
      pr.recentActive = true;
      this.handleAppendResp(m, pr);
    } else if (m.type === 'heartbeatResp') {
      pr.recentActive = true;
      this.handleHeartbeatResp(m, pr);
    }
  }

  private handleAppendResp(m: AppendRespMsg, pr: Progress): void {
    if (m.reject) {
      // Leader side of fast backtracking: jump to the last index of ours with term <= the hint's term.
      let next = m.hintIndex;
      if (m.hintTerm > 0) next = this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
      if (pr.maybeDecrTo(m.index, next)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && pr.state !== 'snapshot' && pr.match === m.index) this.sendAppend(m.from);
      return;
    }
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.freeTo(m.index);
    if (this.maybeCommit()) this.sendPendingEntries();
    else if (this.role === 'leader') while (this.sendAppend(m.from, false));
  }

  private handleHeartbeatResp(m: HeartbeatRespMsg, pr: Progress): void {
    pr.probeSent = false;
    // Appends in flight may all have been lost; a heartbeat answer frees one slot so the stream
    // resumes (the follower then refuses the gap and we fall back to probing).
    if (pr.state === 'replicate' && pr.isPaused()) pr.inflights.shift();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (m.ctx === 0) return;
    const k = this.readQueue.findIndex((r) => r.ctx === m.ctx);
    if (k < 0) return;
    const req = this.readQueue[k]!;
    if (this.isMember(m.from)) req.acks.add(m.from);
    if (!this.readConfirmed(req)) return;
    // A quorum answered a heartbeat sent after this request (and every older one) was registered.
    for (const r of this.readQueue.splice(0, k + 1)) this.readStates.push({ index: r.index, ctx: r.ctx });
  }

  // ---- leader work -------------------------------------------------------------------------------

  private appendEntry(type: Entry['type'], data: Uint8Array, members?: NodeInfo[]): Entry {
    const e: Entry = { index: this.log.lastIndex() + 1, term: this.term, type, data };
    if (members) e.members = members;
    this.log.append(e);
    if (type === 'conf') this.applyConfig();
    this.appendPending = true;
    // A lone voter commits at advance(), when its entry is durable.
    return e;
  }

  /** Progress follows the configuration as soon as the entry is appended (dissertation §4.1). */
  private applyConfig(): void {
    const ids = new Set(this.log.config().map((n) => n.id));
    for (const id of [...this.prs.keys()]) if (!ids.has(id)) this.prs.delete(id);
    for (const id of ids) {
      if (this.prs.has(id)) continue;
      const pr = new Progress(this.log.lastIndex());
      pr.recentActive = true; // give a new member an election timeout before it counts against CheckQuorum
      this.prs.set(id, pr);
    }
  }

  /**
   * §5.3/§5.4.2: an index is committed once a majority of the configuration stores it, but a leader
   * only counts replicas for entries of its own term (Figure 8); earlier entries commit with them.
   */
  private maybeCommit(): boolean {
    const voters = this.log.config();
    const matches = voters.map((n) => (n.id === this.id ? this.log.stabled : this.prs.get(n.id)?.match ?? 0));
    matches.sort((a, b) => b - a);
    const q = matches[quorum(voters.length) - 1] ?? 0;
    if (q <= this.log.committed || this.log.term(q) !== this.term) return false;
    this.log.commitTo(q);
    this.onCommitAdvance();
    return this.role === 'leader';
  }

  private onCommitAdvance(): void {
    if (this.readsBeforeCommit.length && this.log.term(this.log.committed) === this.term) {
      const ctxs = this.readsBeforeCommit;
      this.readsBeforeCommit = [];
      for (const ctx of ctxs) this.startRead(ctx);
    }
    // Dissertation §4.2.2: a leader removed from the configuration steps down once that is committed.
    if (!this.isMember(this.id) && this.log.lastConfIndex() <= this.log.committed) {
      this.bcastAppend(); // let the others learn the commit before we go quiet
      this.becomeFollower(this.term, null);
    }
  }

  private startRead(ctx: number): void {
    const req: ReadRequest = { ctx, index: this.log.committed, acks: new Set() };
    if (this.isMember(this.id)) req.acks.add(this.id);
    if (this.readConfirmed(req)) {
      this.readStates.push({ index: req.index, ctx });
      return;
    }
    this.readQueue.push(req);
    this.bcastHeartbeat();
  }

  private readConfirmed(r: ReadRequest): boolean {
    return r.acks.size >= quorum(this.log.config().length);
  }

  private bcastAppend(): void {
    if (this.role !== 'leader') return;
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  /**
   * After the commit index moved: entries still owed to followers go out, but no append is sent only
   * to carry the new commit index. Followers learn it from the next append or heartbeat (every
   * heartbeatTicks): they apply a little later, but a commit costs 4 peer messages instead of 8 and
   * wakes each follower once instead of twice, which on a small machine is CPU the leader's apply
   * and reply need (the acknowledgement never waited for the followers' apply).
   */
  private sendPendingEntries(): void {
    if (this.role !== 'leader') return;
    for (const id of this.prs.keys()) if (id !== this.id) while (this.sendAppend(id, false));
  }

  private bcastHeartbeat(): void {
    const ctx = this.readQueue.length ? this.readQueue[this.readQueue.length - 1]!.ctx : 0;
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit: Math.min(pr.match, this.log.committed), ctx });
    }
  }

  /**
   * Sends the next append (or a snapshot when the entries it needs are compacted, §7) unless the
   * follower's flow is paused. Returns whether an append carrying entries went out.
   */
  private sendAppend(to: string, sendIfEmpty = true): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next <= this.log.snap.index) return this.sendSnapshot(to, pr);
    const last = this.log.lastIndex();
    const entries = pr.next <= last ? this.log.slice(pr.next, last + 1, RAFT_ENTRIES_PER_APPEND_MAX, RAFT_APPEND_BYTES_MAX) : [];
    if (!entries.length && !sendIfEmpty) return false;
    this.send({ type: 'app', from: this.id, to, term: this.term, prevIndex, prevTerm, entries, commit: this.log.committed });
    if (pr.state === 'replicate' && entries.length) {
      pr.next = entries[entries.length - 1]!.index + 1;
      pr.inflights.push(pr.next - 1);
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return entries.length > 0;
  }

  /** The image is the state machine as applied here; the driver streams its bytes (see messages.ts). */
  private sendSnapshot(to: string, pr: Progress): boolean {
    const meta = this.snapshotMetaAt(this.log.applied);
    assert(meta, `no term for applied index ${this.log.applied}`);
    this.send({ type: 'snap', from: this.id, to, term: this.term, snapshot: meta });
    pr.becomeSnapshot(meta.index);
    return false;
  }

  private send(m: RaftMessage): void {
    this.msgs.push(m);
  }
}

export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role && a.term === b.term;
}
