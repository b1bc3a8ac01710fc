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

  constructor(
    readonly id: string,
    readonly disk: SimDisk,
    private readonly opts: { electionTicks: number; heartbeatTicks: number; seed: number; compactEvery: number; compactKeep: number },
    private readonly hooks: NodeHooks,
  ) {}

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
    });
  }

  crash(): void {
    this.core = null;
  }

  receive(msg: RaftMessage, image?: SimImage): void {
    if (!this.core) return;
    if (msg.type === 'snap' && image) this.incoming.set(`${msg.snapshot.index}/${msg.snapshot.term}`, image);
    this.core.step(msg);
  }

  /** The driver loop, in its required order: persist, send, apply, advance. */
  processReady(): void {
    const core = this.core;
    if (!core || !core.hasReady()) return;
    const rd = core.ready();
    this.hooks.onReady(this, rd);
    if (rd.snapshot) this.installSnapshot(rd.snapshot);
    if (rd.hardState) this.disk.hardState = rd.hardState;
    if (rd.entries.length) this.persistEntries(rd.entries);
    this.hooks.onPersist(this, rd.entries);
    for (const m of rd.messages) this.hooks.send(this.id, m.to, m, m.type === 'snap' ? this.image(m.snapshot) : undefined);
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
