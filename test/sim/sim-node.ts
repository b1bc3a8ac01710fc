import type { NodeInfo } from '../../shared/types.js';
import { RaftCore } from '../../storagenode/raft/core.js';
import type { RaftMessage } from '../../storagenode/raft/messages.js';
import { seededRng } from '../../storagenode/raft/rng.js';
import type { Entry, HardState, Ready, SnapshotMeta } from '../../storagenode/raft/types.js';

/** The simulated state machine's image: how far it got and a hash chain over everything applied. */
export interface SimImage {
  index: number;
  term: number;
  hash: number;
}

/** What survives a crash: written by processReady only, as the driver writes LevelDB with sync. */
export class SimDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: SnapshotMeta;
  entries: Entry[] = [];
  /** The state machine persists each apply atomically with its index (storagenode/state-machine.ts). */
  sm: SimImage = { index: 0, term: 0, hash: 0 };
  constructor(members: NodeInfo[]) {
    this.snapshot = { index: 0, term: 0, members };
  }
}

export interface NodeHooks {
  send(from: string, to: string, msg: RaftMessage, image?: SimImage): void;
  onPersist(node: SimNode, entries: Entry[]): void;
  /** An entry applied (data) or an image installed (data null); hash is the state after it. */
  onApply(node: SimNode, index: number, term: number, data: Uint8Array | null, hash: number): void;
  onReady(node: SimNode, rd: Ready): void;
}

export function hashStep(h: number, e: Entry): number {
  let x = (h ^ e.index ^ Math.imul(e.term, 0x9e3779b1)) >>> 0;
  for (const b of e.type === 'conf' ? confKey(e) : e.data) x = Math.imul(x ^ b, 0x01000193) >>> 0;
  return x;
}

/** Configuration entries carry no data; compare them by their membership. */
export function confKey(e: Entry): Uint8Array {
  return new TextEncoder().encode(`conf:${(e.members ?? []).map((n) => n.id).join(',')}`);
}

export class SimNode {
  core: RaftCore | null = null;
  /** Images that arrived with snapshot messages, keyed "index/term", until the core installs one. */
  private incoming = new Map<string, SimImage>();
  restarts = 0;
  /** A leader's Ready already sent, not yet persisted (see processReady). */
  private inFlight: Ready | null = null;
  /** The commit index as of the last synced write: what a crash leaves (the driver's MustSync). */
  private syncedCommit = 0;
  private readonly slowWrites: { next(): number };

  constructor(
    readonly id: string,
    readonly disk: SimDisk,
    private readonly opts: { electionTicks: number; heartbeatTicks: number; seed: number; compactEvery: number; compactKeep: number },
    private readonly hooks: NodeHooks,
  ) {
    this.slowWrites = seededRng(opts.seed * 31 + id.length * 7 + id.charCodeAt(id.length - 1));
  }

  get alive(): boolean {
    return this.core !== null;
  }

  /** Boots from disk only: whatever the core had not handed out through ready() is lost. */
  start(): void {
    this.incoming.clear();
    this.core = new RaftCore({
      id: this.id,
      rng: seededRng(this.opts.seed * 7919 + this.restarts++),
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      snapshot: this.disk.snapshot,
      entries: this.disk.entries.slice(),
      hardState: this.disk.hardState,
      applied: this.disk.sm.index,
      quietAfterStart: true, // as the driver runs it (leader lease reads)
    });
  }

  crash(): void {
    this.core = null;
    // A leader's Ready whose messages left before its persist (below) is lost with the process, and
    // so is a commit index written without fsync since the last synced write.
    this.inFlight = null;
    this.disk.hardState = { ...this.disk.hardState, commit: this.syncedCommit };
  }

  receive(msg: RaftMessage, image?: SimImage): void {
    if (!this.core) return;
    if (msg.type === 'snap' && image) this.incoming.set(`${msg.snapshot.index}/${msg.snapshot.term}`, image);
    this.core.step(msg);
  }

  /**
   * The driver loop (storagenode/raft/driver.ts): persist, send, apply, advance; except that a leader
   * whose Ready changes neither term nor vote sends first and persists on the next call, so the
   * others can answer (and commit) while its write is in progress, or a crash can lose it
   * (dissertation §10.2.1). The next Ready waits for that persist, as in the driver.
   */
  processReady(): void {
    const core = this.core;
    if (!core) return;
    if (this.inFlight) {
      // The write takes a while: other nodes get to answer (and the leader to crash) before it lands.
      if (this.slowWrites.next() < 0.8) return;
      const rd = this.inFlight;
      this.inFlight = null;
      return this.finishReady(core, rd);
    }
    if (!core.hasReady()) return;
    const rd = core.ready();
    this.hooks.onReady(this, rd);
    const hs = this.disk.hardState;
    const early = core.role === 'leader' && !rd.snapshot && (!rd.hardState || (rd.hardState.term === hs.term && rd.hardState.vote === hs.vote));
    if (!early) return this.finishReady(core, rd, true);
    this.sendAll(rd);
    this.inFlight = rd;
  }

  private sendAll(rd: Ready): void {
    for (const m of rd.messages) {
      if (m.type !== 'snap') this.hooks.send(this.id, m.to, m);
      else this.sendSnapshot(m);
    }
  }

  /**
   * As the driver does: the metadata follows the image as it is now (the state machine may have
   * applied more since the core queued the message, when a leader's persist was in flight).
   */
  private sendSnapshot(m: Extract<RaftMessage, { type: 'snap' }>): void {
    const core = this.core!;
    const meta = core.snapshotMetaAt(this.disk.sm.index);
    if (!meta || meta.term !== this.disk.sm.term) return core.reportSnapshot(m.to, false);
    this.hooks.send(this.id, m.to, { ...m, snapshot: meta }, this.image(meta));
  }

  private finishReady(core: RaftCore, rd: Ready, send = false): void {
    if (rd.snapshot) this.installSnapshot(rd.snapshot);
    if (rd.hardState) {
      const hs = this.disk.hardState;
      if (rd.entries.length || rd.hardState.term !== hs.term || rd.hardState.vote !== hs.vote) this.syncedCommit = rd.hardState.commit;
      this.disk.hardState = rd.hardState;
    } else if (rd.entries.length) {
      this.syncedCommit = this.disk.hardState.commit;
    }
    if (rd.entries.length) this.persistEntries(rd.entries);
    this.hooks.onPersist(this, rd.entries);
    if (send) this.sendAll(rd);
    for (const e of rd.committed) {
      if (e.index <= this.disk.sm.index) continue; // applied before a crash: the state machine kept it
      const hash = hashStep(this.disk.sm.hash, e);
      this.disk.sm = { index: e.index, term: e.term, hash };
      this.hooks.onApply(this, e.index, e.term, e.type === 'conf' ? confKey(e) : e.data, hash);
    }
    core.advance(rd);
    this.maybeCompact(core);
  }

  private image(meta: SnapshotMeta): SimImage {
    const sm = this.disk.sm;
    if (sm.index !== meta.index || sm.term !== meta.term) {
      throw new Error(`sim: ${this.id} snapshot meta ${meta.index}/${meta.term} but image at ${sm.index}/${sm.term}`);
    }
    return { ...sm };
  }

  private installSnapshot(s: SnapshotMeta): void {
    const img = this.incoming.get(`${s.index}/${s.term}`);
    if (!img) throw new Error(`sim: ${this.id} installs snapshot ${s.index}/${s.term} it never received`);
    this.incoming.clear();
    this.disk.sm = { ...img };
    this.disk.snapshot = s;
    this.disk.entries = [];
    this.hooks.onApply(this, s.index, s.term, null, img.hash);
  }

  private persistEntries(ents: Entry[]): void {
    const first = ents[0]!.index;
    const keep = first - this.disk.snapshot.index - 1;
    if (keep < 0) throw new Error(`sim: ${this.id} persists entry ${first} at or below its snapshot ${this.disk.snapshot.index}`);
    this.disk.entries.length = Math.min(this.disk.entries.length, keep);
    if (this.disk.entries.length !== keep) throw new Error(`sim: ${this.id} persists ${first} after a gap`);
    this.disk.entries.push(...ents);
  }

  /** Like the driver: once the state machine is far enough past the last snapshot, drop old entries. */
  private maybeCompact(core: RaftCore): void {
    const applied = this.disk.sm.index;
    if (applied - core.log.snap.index < this.opts.compactEvery) return;
    const to = applied - this.opts.compactKeep;
    if (to <= core.log.snap.index) return;
    core.compact(to);
    const snap = core.log.snap;
    this.disk.entries = this.disk.entries.slice(snap.index - this.disk.snapshot.index);
    this.disk.snapshot = snap;
  }
}
