import type { NodeInfo } from '../../shared/types.js';
import {
  RAFT_APPEND_BYTES_MAX, RAFT_ENTRIES_PER_APPEND_MAX, RAFT_ENTRY_BYTES_MAX, SNAPSHOT_CHUNK_BYTES_MAX,
} from '../../shared/limits.js';
import {
  Invalid, array, bool, bytes, literal, object, optional, str, uint, type Check,
} from '../../shared/wire/validate.js';
import type { Entry, SnapshotMeta } from './types.js';

/**
 * Messages between Raft peers. They come off the network, so validateMessage checks every field
 * before the core sees one; the core may then assume the shapes below (but not honesty).
 */
export const NODE_ID_BYTES_MAX = 64; // as memberAdd in shared/protocol/ops.ts
export const MEMBERS_MAX = 64;
export const NODE_URL_BYTES_MAX = 256;
/** A snapshot transfer of more chunks than this is refused (64 GiB at 1 MiB chunks). */
export const SNAPSHOT_CHUNKS_MAX = 65536;

interface Base {
  from: string;
  to: string;
  term: number;
}
export interface VoteMsg extends Base { type: 'vote' | 'preVote'; lastIndex: number; lastTerm: number }
export interface VoteRespMsg extends Base { type: 'voteResp' | 'preVoteResp'; reject: boolean }
export interface AppendMsg extends Base { type: 'app'; prevIndex: number; prevTerm: number; entries: Entry[]; commit: number }
/**
 * index: on success the last index the follower now matches; on reject the prevIndex it refused.
 * hintIndex/hintTerm: fast backtracking (§5.3 "the follower can include the term of the
 * conflicting entry"): the largest index <= prevIndex whose term is <= the refused prevTerm.
 */
export interface AppendRespMsg extends Base { type: 'appResp'; index: number; reject: boolean; hintIndex: number; hintTerm: number }
/** ctx > 0 ties a heartbeat round to a ReadIndex request (§6.4). */
export interface HeartbeatMsg extends Base { type: 'heartbeat'; commit: number; ctx: number }
export interface HeartbeatRespMsg extends Base { type: 'heartbeatResp'; ctx: number }
/**
 * InstallSnapshot (§7). The core emits and consumes only `snap` (metadata). The driver turns an
 * outgoing `snap` into `snapChunk` messages carrying the image (seq 0.., done on the last) and, once a
 * transfer is complete, steps the core with the `snap` it stands for.
 */
export interface SnapMsg extends Base { type: 'snap'; snapshot: SnapshotMeta }
export interface SnapChunkMsg extends Base { type: 'snapChunk'; snapshot: SnapshotMeta; seq: number; data: Uint8Array; done: boolean }

export type RaftMessage =
  | VoteMsg | VoteRespMsg | AppendMsg | AppendRespMsg | HeartbeatMsg | HeartbeatRespMsg | SnapMsg | SnapChunkMsg;
export type MessageType = RaftMessage['type'];

const nodeId = str({ maxBytes: NODE_ID_BYTES_MAX, minBytes: 1, pattern: /^[A-Za-z0-9_.-]+$/ });
const idx = uint();
const nodeInfo: Check<NodeInfo> = object({
  id: nodeId,
  url: str({ maxBytes: NODE_URL_BYTES_MAX }),
  zone: optional(str({ maxBytes: 64 })),
}) as Check<NodeInfo>;
const members = array(nodeInfo, MEMBERS_MAX);
const entry = object({
  index: uint(),
  term: uint(),
  type: literal('normal', 'conf'),
  data: bytes({ maxBytes: RAFT_ENTRY_BYTES_MAX }),
  members: optional(members),
});
const snapshot = object({ index: idx, term: idx, members });
const base = { from: nodeId, to: nodeId, term: idx };

const SCHEMAS: Record<MessageType, Check<unknown>> = {
  vote: object({ type: literal('vote'), ...base, lastIndex: idx, lastTerm: idx }),
  preVote: object({ type: literal('preVote'), ...base, lastIndex: idx, lastTerm: idx }),
  voteResp: object({ type: literal('voteResp'), ...base, reject: bool }),
  preVoteResp: object({ type: literal('preVoteResp'), ...base, reject: bool }),
  app: object({
    type: literal('app'), ...base, prevIndex: idx, prevTerm: idx,
    entries: array(entry, RAFT_ENTRIES_PER_APPEND_MAX), commit: idx,
  }),
  appResp: object({ type: literal('appResp'), ...base, index: idx, reject: bool, hintIndex: idx, hintTerm: idx }),
  heartbeat: object({ type: literal('heartbeat'), ...base, commit: idx, ctx: idx }),
  heartbeatResp: object({ type: literal('heartbeatResp'), ...base, ctx: idx }),
  snap: object({ type: literal('snap'), ...base, snapshot }),
  snapChunk: object({
    type: literal('snapChunk'), ...base, snapshot, seq: uint(SNAPSHOT_CHUNKS_MAX - 1),
    data: bytes({ maxBytes: SNAPSHOT_CHUNK_BYTES_MAX }), done: bool,
  }),
};

/** Checks shape, sizes and ids, then the relations a well-formed message keeps. Never throws. */
export function validateMessage(x: unknown): RaftMessage | Invalid {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) {
    return new Invalid('', 'expected an object');
  }
  const type = (x as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(SCHEMAS, type)) {
    return new Invalid('type', 'unknown message type');
  }
  const m = SCHEMAS[type as MessageType](x, '');
  if (m instanceof Invalid) return m;
  return checkRelations(m as RaftMessage);
}

function checkRelations(m: RaftMessage): RaftMessage | Invalid {
  if (m.from === m.to) return new Invalid('to', 'a message to its own sender');
  if (m.type === 'app') return checkEntries(m);
  if (m.type === 'snap' || m.type === 'snapChunk') return checkMembers(m.snapshot.members, 'snapshot.members') ?? m;
  if (m.type === 'vote' || m.type === 'preVote') {
    if (m.lastTerm > m.term) return new Invalid('lastTerm', 'later than the candidate term');
  }
  return m;
}

/** Entries must follow prevIndex without gaps, with terms that never go down or past the leader's. */
function checkEntries(m: AppendMsg): AppendMsg | Invalid {
  let bytesTotal = 0;
  let prevTerm = m.prevTerm;
  if (m.prevTerm > m.term) return new Invalid('prevTerm', 'later than the leader term');
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    const p = `entries[${i}]`;
    if (e.index !== m.prevIndex + 1 + i) return new Invalid(`${p}.index`, 'not consecutive after prevIndex');
    if (e.term < prevTerm || e.term > m.term || e.term === 0) return new Invalid(`${p}.term`, 'out of order');
    if ((e.type === 'conf') !== (e.members !== undefined)) return new Invalid(`${p}.members`, 'only on conf entries');
    if (e.members) {
      const bad = checkMembers(e.members, `${p}.members`);
      if (bad) return bad;
    }
    prevTerm = e.term;
    bytesTotal += e.data.byteLength;
  }
  if (bytesTotal > RAFT_APPEND_BYTES_MAX) return new Invalid('entries', `more than ${RAFT_APPEND_BYTES_MAX} bytes`);
  return m;
}

function checkMembers(ms: NodeInfo[], path: string): Invalid | undefined {
  const seen = new Set<string>();
  for (const n of ms) {
    if (seen.has(n.id)) return new Invalid(path, `duplicate member ${n.id}`);
    seen.add(n.id);
  }
  return undefined;
}

/** For logs: a message in a few words, without payloads. */
export function describeMessage(m: RaftMessage): string {
  const head = `${m.type} ${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case 'app': return `${head} prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} commit=${m.commit}`;
    case 'appResp': return `${head} index=${m.index}${m.reject ? ` reject hint=${m.hintIndex}/${m.hintTerm}` : ''}`;
    case 'vote': case 'preVote': return `${head} last=${m.lastIndex}/${m.lastTerm}`;
    case 'voteResp': case 'preVoteResp': return `${head} ${m.reject ? 'rejected' : 'granted'}`;
    case 'heartbeat': return `${head} commit=${m.commit} ctx=${m.ctx}`;
    case 'heartbeatResp': return `${head} ctx=${m.ctx}`;
    case 'snap': return `${head} snapshot=${m.snapshot.index}/${m.snapshot.term}`;
    case 'snapChunk': return `${head} snapshot=${m.snapshot.index}/${m.snapshot.term} seq=${m.seq}${m.done ? ' done' : ''}`;
  }
}
