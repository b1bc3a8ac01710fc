import { isBlockId } from '../block-id.js';
import { PREFIX_DIGEST_CHARS } from '../chunk-prefix.js';
import {
  BLOCK_BYTES_MAX, GROUPS_MAX, NAME_BYTES_MAX, READDIR_ENTRIES_MAX, SLICES_PER_CHUNK_MAX, COMMIT_SLICES_MAX, SYMLINK_BYTES_MAX,
  XATTR_NAME_BYTES_MAX, XATTR_VALUE_BYTES_MAX, CHUNK_BYTES, FILE_BYTES_MAX, LOCK_OWNER_BYTES_MAX,
} from '../limits.js';
import { isTime, type Time } from '../time.js';
import {
  array, bool, bytes, int, literal, object, optional, str, uint, unknownValue, Invalid,
  type Check, type Infer,
} from '../wire/validate.js';
import type { Attr, DirEntry, NodeInfo, Slice, StatFs } from '../types.js';

/**
 * The one table of tidefs operations: each op's argument schema (checked on the node before use)
 * and, in OpResults, what a successful reply carries. Names are what travels in `op`.
 */
const ino = uint();
const name = str({ maxBytes: NAME_BYTES_MAX * 4 }); // the state machine returns ENAMETOOLONG past NAME_BYTES_MAX
export const time: Check<Time> = (x, p) => (isTime(x) ? x : new Invalid(p, 'expected [sec, nsec]'));
const blockId: Check<string> = (x, p) => (isBlockId(x) ? x : new Invalid(p, 'expected a block id'));
const cred = object({ uid: uint(0xffffffff), gid: uint(0xffffffff), groups: array(uint(0xffffffff), GROUPS_MAX) });
const session = str({ maxBytes: 64 });
const lockOwner = str({ maxBytes: LOCK_OWNER_BYTES_MAX, minBytes: 1 });
/** Optional on every namespace change: lets the state machine answer a retried request with its first reply. */
const seq = optional(uint());
/**
 * Optional on namespace changes, open and release: inodes whose open by `session` ended (closes the
 * client queued). Applied after the op, in the same entry, and only if the op succeeded
 * (storagenode/meta/ops/carried.ts).
 */
export const RELEASES_MAX = 1024;
const releases = optional(array(ino, RELEASES_MAX));
/**
 * Optional wherever `releases` is: read-only opens by `session` that returned without registering
 * (`openRead`), registered now, before the op. An inode already deleted is skipped.
 */
const opens = optional(array(ino, RELEASES_MAX));

export const slice = object({ pos: uint(CHUNK_BYTES - 1), len: uint(CHUNK_BYTES), block: blockId, off: uint(BLOCK_BYTES_MAX - 1) });
export const chunkSlice = object({ chunk: uint(FILE_BYTES_MAX / CHUNK_BYTES), pos: uint(CHUNK_BYTES - 1), len: int({ min: 1, max: CHUNK_BYTES }), block: blockId, off: uint(BLOCK_BYTES_MAX - 1) });
const timeArg = (x: unknown, p: string) => (x === 'now' ? ('now' as const) : time(x, p));
/**
 * A utimens of the file that rides on the commit of its buffered writes (the flush it forced), so the
 * two are one entry: applied after the data, with setattr's rules (storagenode/meta/ops/times.ts),
 * checked against `cred`, the utimens caller's (the writer's may differ). If they are refused, the
 * whole entry is, data included.
 */
const commitTimes = object({ atime: optional(timeArg), mtime: optional(timeArg), cred });
/**
 * chmod, chown and utimens of a file with buffered writes, made on the mount that holds them and
 * carried by the commit of those writes (client/vfs/deferred-attrs.ts): applied after the data, in
 * order, each with setattr's rules and its own caller's `cred`. A refusal fails the whole entry.
 */
export const ATTR_CHANGES_MAX = 16;
const attrChange = object({
  cred, mode: optional(uint(0o7777)), uid: optional(uint(0xffffffff)), gid: optional(uint(0xffffffff)),
  atime: optional(timeArg), mtime: optional(timeArg), killPriv: optional(bool),
});

export const OPS = {
  // Handshake (shared/protocol/handshake.ts): must be the first request on a connection.
  hello: object({ protocol: uint(), cluster: str({ maxBytes: 128 }), role: literal('client', 'peer', 'admin'), node: optional(str({ maxBytes: 64 })), client: optional(str({ maxBytes: 128 })), token: optional(str({ maxBytes: 256 })) }),

  // Metadata reads: answered by the leader after a linearizable read barrier (ReadIndex).
  lookup: object({ parent: ino, name }),
  getattr: object({ ino }),
  readdir: object({ ino, after: optional(name), limit: optional(int({ min: 1, max: READDIR_ENTRIES_MAX })) }),
  readlink: object({ ino }),
  getxattr: object({ ino, name: str({ maxBytes: XATTR_NAME_BYTES_MAX * 4 }) }),
  listxattr: object({ ino }),
  readChunk: object({ ino, chunk: uint(FILE_BYTES_MAX / CHUNK_BYTES) }),
  statfs: object({}),
  /**
   * A read-only open (no O_TRUNC) checked like `open` but not registered: the client registers it in
   * the `opens` of a later request, or never if it closes first (docs/decisions.md). No Raft entry.
   */
  openRead: object({ ino: optional(ino), parent: optional(ino), name: optional(name), flags: uint(0xffffffff), cred }),

  // Metadata changes: one Raft entry each, applied as one LevelDB batch.
  /** `open`: also registers the creator's open of the new file for `session` (one entry for create + open). */
  mknod: object({ parent: ino, name, mode: uint(0o177777), rdev: uint(0xffffffff), cred, session: optional(session), seq, open: optional(bool), releases, opens }),
  mkdir: object({ parent: ino, name, mode: uint(0o7777), cred, session: optional(session), seq, releases, opens }),
  symlink: object({ parent: ino, name, target: str({ maxBytes: SYMLINK_BYTES_MAX * 2, minBytes: 1 }), cred, session: optional(session), seq, releases, opens }),
  link: object({ ino, parent: ino, name, cred, session: optional(session), seq, releases, opens }),
  unlink: object({ parent: ino, name, cred, session: optional(session), seq, releases, opens }),
  rmdir: object({ parent: ino, name, cred, session: optional(session), seq, releases, opens }),
  rename: object({ parent: ino, name, newParent: ino, newName: name, flags: uint(7), cred, session: optional(session), seq, releases, opens }),
  setattr: object({
    ino, cred, mode: optional(uint(0o7777)), uid: optional(uint(0xffffffff)), gid: optional(uint(0xffffffff)),
    size: optional(uint(FILE_BYTES_MAX)), atime: optional(timeArg), mtime: optional(timeArg), session: optional(session), seq, releases, opens,
    /** Drop the file's privileges as a write, truncate or chown by this caller does (storagenode/meta/ops/privs.ts). */
    killPriv: optional(bool),
  }),
  setxattr: object({ ino, name: str({ maxBytes: XATTR_NAME_BYTES_MAX * 4 }), value: bytes({ maxBytes: XATTR_VALUE_BYTES_MAX * 2 }), flags: uint(3), cred, session: optional(session), seq }),
  removexattr: object({ ino, name: str({ maxBytes: XATTR_NAME_BYTES_MAX * 4 }), cred, session: optional(session), seq }),
  /**
   * Makes already-stored blocks part of a file: the only way data becomes visible. `times`: see
   * commitTimes (sent by version-5 and -6 clients; entries in logs of those versions carry it),
   * `attrs`: see attrChange.
   */
  commitWrite: object({
    ino, slices: array(chunkSlice, COMMIT_SLICES_MAX), cred, times: optional(commitTimes), attrs: optional(array(attrChange, ATTR_CHANGES_MAX)),
    session: optional(session), seq, releases, opens,
  }),
  /**
   * Compaction (storagenode/meta/ops/compact.ts): replaces the chunk's first `oldCount` slices, which
   * must digest to `oldDigest` (shared/chunk-prefix.ts: exactly what the client read), by `slices` (new
   * blocks with the same visible bytes); EAGAIN if the chunk changed under them. Not a write: size and
   * times stay.
   */
  compactChunk: object({
    ino, chunk: uint(FILE_BYTES_MAX / CHUNK_BYTES), oldCount: int({ min: 1, max: SLICES_PER_CHUNK_MAX }),
    oldDigest: str({ maxBytes: PREFIX_DIGEST_CHARS }), slices: array(slice, COMMIT_SLICES_MAX), session: optional(session), seq,
  }),
  /** By `ino`, or by `parent` + `name` (saves the lookup before it). */
  open: object({ ino: optional(ino), parent: optional(ino), name: optional(name), flags: uint(0xffffffff), cred, session, seq, releases, opens }),
  /** One close of `ino`; without `ino`, only what it carries (the client's queued opens and closes). */
  release: object({ ino: optional(ino), session, seq, releases, opens }),
  sessionOpen: object({ client: str({ maxBytes: 128 }), leaseMs: int({ min: 1000, max: 3_600_000 }) }),
  sessionRenew: object({ session }),
  sessionClose: object({ session }),
  /**
   * Locks (docs/locking.md): one Raft entry each. `owner` is the kernel's lock owner (POSIX) or open
   * file (flock); ranges are inclusive, end Number.MAX_SAFE_INTEGER = to end of file; type 'u' unlocks.
   * A blocking request that must wait is queued and answered {state:'queued', waiter}; the node then
   * pushes `lockGranted` {session, waiter} and the client confirms with lockWait.
   */
  lock: object({ ino, session, seq, owner: lockOwner, kind: literal('posix', 'flock'), type: literal('r', 'w', 'u'), start: uint(), end: uint(), pid: uint(0xffffffff), wait: bool }),
  getlk: object({ ino, session, owner: lockOwner, type: literal('r', 'w'), start: uint(), end: uint() }),
  /** Where a queued waiter stands; a final answer (granted/failed) is consumed. Registers this connection for the push. */
  lockWait: object({ session, seq, waiter: uint() }),
  /** The waiter gave up (EINTR): it leaves the queue, or, if it was granted meanwhile, the grant is undone. */
  lockCancel: object({ session, seq, waiter: uint() }),

  // Blocks: sent by clients straight to each replica node.
  blockPut: object({ id: blockId, data: bytes({ maxBytes: BLOCK_BYTES_MAX }) }),
  blockGet: object({ id: blockId, off: optional(uint(BLOCK_BYTES_MAX)), len: optional(uint(BLOCK_BYTES_MAX)) }),
  blockHas: object({ ids: array(blockId, 4096) }),

  // Cluster administration.
  status: object({}),
  memberAdd: object({ id: str({ maxBytes: 64, pattern: /^[A-Za-z0-9_.-]+$/ }), url: str({ maxBytes: 256 }), zone: optional(str({ maxBytes: 64 })) }),
  memberRemove: object({ id: str({ maxBytes: 64 }) }),

  // Between peers: a Raft message (one-way, id 0); storagenode/raft validates its inner shape.
  raft: object({ msg: unknownValue }),
  /** Peers and admins only: answered by the leader after a read barrier; block GC asks before deleting. */
  blocksReferenced: object({ ids: array(blockId, 4096) }),
  /**
   * Peers and admins only: a metadata read answered from this node's own state machine, without a read
   * barrier and on any node (tests and debugging compare replicas with it). `args` are checked against
   * the schema of `op` by the node.
   */
  localRead: object({ op: literal('lookup', 'getattr', 'readdir', 'readlink', 'getxattr', 'listxattr', 'readChunk'), args: unknownValue }),

  // Repair, scrub, fsck and draining (storagenode/repair, docs/operations.md). Peers and admins only.
  /** The leader's placement exclusions: nodes declared lost and nodes being drained. */
  repairView: object({}),
  /** Leader only: starts (or keeps alive: it lapses unless renewed) the drain of a node, or stops it. */
  nodeDrain: object({ id: str({ maxBytes: 64 }), action: literal('start', 'stop') }),
  /** Block ids that committed metadata names, from this node's own state machine, in id order. */
  refList: object({ after: optional(blockId), limit: int({ min: 1, max: 4096 }) }),
  /** This node's stored blocks in id order. */
  blockList: object({ after: optional(blockId), limit: int({ min: 1, max: 4096 }) }),
  /** Deletes these blocks here, but only those the leader says are unreferenced and older than the GC grace period. */
  blockDelete: object({ ids: array(blockId, 4096) }),
  /** Copies this block onto this node from another member that holds a good copy (replacing a bad local copy). */
  blockRepair: object({ id: blockId }),
} as const;

export type OpName = keyof typeof OPS;
export type OpArgs<O extends OpName> = Infer<(typeof OPS)[O]>;
export const isOpName = (s: string): s is OpName => Object.prototype.hasOwnProperty.call(OPS, s);

export const META_READ_OPS = ['lookup', 'getattr', 'readdir', 'readlink', 'getxattr', 'listxattr', 'readChunk', 'statfs', 'openRead'] as const;
export const META_WRITE_OPS = [
  'mknod', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename', 'setattr', 'setxattr', 'removexattr',
  'commitWrite', 'compactChunk', 'open', 'release', 'sessionOpen', 'sessionRenew', 'sessionClose',
  'lock', 'getlk', 'lockWait', 'lockCancel',
] as const;
/** Lock ops: writes whose replies and pushes depend on the connection they came on (storagenode/rpc/lock-waiters.ts). */
export const LOCK_OPS = ['lock', 'getlk', 'lockWait', 'lockCancel'] as const;
export type MetaReadOp = (typeof META_READ_OPS)[number];
export type MetaWriteOp = (typeof META_WRITE_OPS)[number];

export interface NodeStatus {
  node: string;
  url: string;
  cluster: string;
  role: 'leader' | 'follower' | 'candidate' | 'learner';
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  members: (NodeInfo & { matchIndex?: number; reachable?: boolean })[];
  blocks: { count: number; bytes: number };
  disk: { totalBytes: number; freeBytes: number };
  uptimeMs: number;
  /** Anti-entropy repair and scrub on this node (absent on nodes that predate them). */
  repair?: RepairStatus;
}

/** One anti-entropy round as this node saw the cluster (storagenode/repair/repairer.ts). */
export interface RepairRound {
  round: number;
  startedAtMs: number;
  tookMs: number;
  done: boolean;
  referenced: number; // referenced blocks examined
  underReplicated: number; // fewer than R copies on their (healthy) placement targets
  missing: number; // no copy found on any reachable member
  misplaced: number; // copies on nodes that are not placement targets (to be dropped once the targets hold them)
  held: number; // referenced blocks this node holds
  fetched: number;
  fetchedBytes: number;
  dropped: number;
  error?: string;
}

export interface ScrubProgress {
  pass: number;
  running: boolean;
  checked: number;
  bytes: number;
  corrupt: number;
  repaired: number;
  total: number; // blocks on this node when the pass started
  lastPassDoneAtMs: number;
}

export interface RepairStatus {
  lost: string[];
  draining: string[];
  current: RepairRound | null; // the round running now
  last: RepairRound | null; // the last finished round
  scrub: ScrubProgress;
}

/** A held lock as F_GETLK reports it. */
export interface LockInfo {
  type: 'r' | 'w';
  start: number;
  end: number; // inclusive; Number.MAX_SAFE_INTEGER = to end of file
  pid: number;
  session: string;
  owner: string;
}
/** Push frame a node sends when a queued lock waiter was granted (or failed): the client confirms with lockWait. */
export interface LockGrantedPush {
  session: string;
  waiter: number;
}

/**
 * Push frame `changed`: metadata that applied entries changed, so a client drops what it caches of
 * it (kernel attributes and dentries). A wake-up hint like lockGranted: a lost push costs staleness
 * bounded by the client's cache timeout, never a wrong answer, because every reply is read fresh.
 *
 * Who sends it: only the current Raft leader, once the entries are stored, to every client connection
 * except those of the session whose request made the change (it updates its own caches from its
 * replies). A connection counts as a session's once a request on it carried `session`, so around a
 * leader change the entries the new leader applies before a session's first request to it may come
 * back to that session (which has just been told `all` anyway). Effects of entries applied within a
 * few milliseconds are merged and deduplicated: at most one push per connection per flush window
 * (storagenode/rpc/change-feed.ts: CHANGE_FLUSH_MS).
 *
 * - `inos`: inodes whose stored record an entry changed (mode, uid, gid, size, mtime, ctime, nlink,
 *   version, ...): setattr/truncate targets, data commits, link/unlink/rename targets, parents whose
 *   entries changed, xattr changes (ctime), deleted inodes. Not listed: new inodes (nobody can have
 *   cached them), and ops that change no stored attribute (an open without O_TRUNC).
 * - `entries`: [parent, name] of every name an entry removed or re-pointed (unlink, rmdir, the rename
 *   source, a replaced or exchanged destination). New names are not listed (nobody can cache a
 *   positive entry for a name that did not exist, and clients keep no negative entries).
 * - `all: true`: invalidate everything cached (`inos` and `entries` are then empty). The node sends it
 *   when a connection's batch grew past CHANGE_ITEMS_MAX, when a connection was too slow to take
 *   pushes (details dropped), and to every connected client when it becomes leader (pushes of the
 *   entries the old leader applied may be lost). client/rpc/cluster-client.ts also emits it locally
 *   (through onPush) when one of its node connections closes or one opens to a node that says in
 *   hello that it leads, since pushes sent while it had no connection to the leader were missed.
 */
export interface ChangedPush {
  inos: number[];
  entries: [parent: number, name: string][];
  all?: true;
}

/**
 * Besides, an open of a regular file with data may return its first chunk's layout, read by the leader
 * right after the open applied (not part of the recorded reply, so a retried open lacks it): a small
 * file is then read with no readChunk. Absent when the chunk has many slices, and from older nodes.
 */
export interface OpenLayout {
  chunk0?: { slices: Slice[]; size: number; version: number };
  /**
   * With `chunk0`, for a small file (INLINE_FILE_BYTES_MAX) whose blocks the answering node holds: the
   * bytes each slice names, read (and checksum-checked) there, so the file is read with no block
   * request. Blocks are immutable, so these bytes are right for any later layout that names them.
   */
  blocks0?: { block: string; off: number; data: Uint8Array }[];
}

/** Besides, a change of a directory's entries returns the directory after it (absent from older nodes). */
export interface DirChanged {
  parentAttr?: Attr;
}

/** What a successful reply carries, per op. */
export interface OpResults {
  hello: { protocol: number; cluster: string; node: string; leader: string | null; members: NodeInfo[]; replicas: number };
  lookup: Attr;
  getattr: Attr;
  readdir: { entries: DirEntry[]; more: boolean };
  readlink: { target: string };
  getxattr: { value: Uint8Array };
  listxattr: { names: string[] };
  readChunk: { slices: Slice[]; size: number; version: number };
  statfs: StatFs;
  openRead: Attr & OpenLayout;
  mknod: Attr & DirChanged;
  mkdir: Attr & DirChanged;
  symlink: Attr & DirChanged;
  link: Attr & DirChanged;
  unlink: { ino: number; nlink: number } & DirChanged;
  rmdir: DirChanged;
  rename: Record<string, never>;
  setattr: Attr;
  setxattr: Record<string, never>;
  removexattr: Record<string, never>;
  commitWrite: Attr;
  compactChunk: Attr;
  open: Attr & OpenLayout;
  release: Record<string, never>;
  sessionOpen: { session: string; leaseMs: number };
  sessionRenew: { leaseMs: number };
  sessionClose: Record<string, never>;
  lock: { state: 'granted' } | { state: 'queued'; waiter: number };
  getlk: { conflict: LockInfo | null };
  lockWait: { state: 'queued' | 'granted' | 'failed' | 'gone'; errno?: string };
  lockCancel: { undone: 'waiter' | 'grant' | 'none' };
  blockPut: Record<string, never>;
  blockGet: { data: Uint8Array };
  blockHas: { have: boolean[] };
  status: NodeStatus;
  memberAdd: { members: NodeInfo[] };
  memberRemove: { members: NodeInfo[] };
  raft: never;
  blocksReferenced: { referenced: boolean[] };
  localRead: { ok: true; value: unknown } | { ok: false; errno: string };
  repairView: { lost: string[]; draining: string[] };
  nodeDrain: { draining: string[] };
  refList: { ids: string[] };
  blockList: { entries: { id: string; size: number; storedAtMs: number }[] };
  blockDelete: { deleted: number; kept: number };
  blockRepair: { repaired: boolean; from: string | null };
}

/** rename(2) flags as Linux defines them (renameat2). */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
/** setxattr(2) flags. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;


