import type { NodeInfo } from '../../shared/types.js';
import type { RaftMessage } from './messages.js';

/**
 * Plain data shared by the Raft core, its driver and the simulation. Indexes and terms are positive
 * integers; index 0 / term 0 is the empty log before the first entry.
 */
export type EntryType = 'normal' | 'conf';

export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  /** A command for the state machine; empty for a leader's no-op and for configuration entries. */
  data: Uint8Array;
  /** Configuration entries only: the whole new membership (one node added or removed, §4.1). */
  members?: NodeInfo[];
}

/** What must be on disk before any message that depends on it is sent (Figure 2, "persistent state"). */
export interface HardState {
  term: number;
  vote: string | null;
  commit: number;
}

/**
 * The point the log starts after: the state machine's image at `index` replaces entries 1..index,
 * and `members` is the configuration in force at `index`.
 */
export interface SnapshotMeta {
  index: number;
  term: number;
  members: NodeInfo[];
}

/** preCandidate: running a PreVote round (§9.6) that does not touch the term. */
export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  leader: string | null;
  role: Role;
  term: number;
}

/** A ReadIndex answer: once applied >= index, a read that asked with `ctx` is linearizable (§6.4). */
export interface ReadState {
  index: number;
  ctx: number;
}

/**
 * Everything the driver must do, in this order: persist hardState + entries (+ snapshot) durably,
 * then send messages, then apply committed entries, then call advance(ready).
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshot?: SnapshotMeta;
  messages: RaftMessage[];
  committed: Entry[];
  readStates: ReadState[];
}

/** Injected randomness, so a seed replays a run exactly. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
}

export type ConfChange = { type: 'add'; node: NodeInfo } | { type: 'remove'; id: string };

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: 'not-leader' | 'conf-pending' | 'no-op' | 'invalid' | 'too-large' };
