import type { FsResult } from '../../shared/errno.js';
import { isErrno } from '../../shared/errno.js';
import type { Logger } from '../../shared/log.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/handshake.js';
import { LOCK_OPS, META_READ_OPS, META_WRITE_OPS, OPS, type MetaReadOp, type MetaWriteOp, type NodeStatus, type OpArgs, type OpName } from '../../shared/protocol/ops.js';
import { timeFromMs, type Time } from '../../shared/time.js';
import { S_IFMT, S_IFREG, type NodeInfo, type Slice, type StatFs } from '../../shared/types.js';
import { Invalid } from '../../shared/wire/validate.js';
import { INLINE_FILE_BYTES_MAX, NAME_BYTES_MAX } from '../../shared/limits.js';
import type { BlockStore } from '../blocks/block-store.js';
import type { RaftStatus } from '../raft/driver.js';
import type { ConnContext, Outcome, RpcHandlers } from './server.js';
import type { LockWaiters } from './lock-waiters.js';
import type { ChangeFeed } from './change-feed.js';
import { handleRepairOp, isRepairOp, REPAIR_OPS } from '../repair/ops.js';
import type { RepairService } from '../repair/service.js';

/** What the handlers need of the Raft driver (storagenode/raft/driver.ts). */
export interface RaftApi {
  propose(data: Uint8Array): Promise<unknown>;
  readBarrier(): Promise<void>;
  /** True when a read may run now without waiting (leader lease held, everything committed applied). */
  readyForLocalRead?(): boolean;
  /** Cheaper than status().role for the per-request leader check. */
  isLeader?(): boolean;
  addMember(m: NodeInfo): Promise<unknown>;
  removeMember(id: string): Promise<unknown>;
  receive(msg: unknown): void;
  status(): Omit<RaftStatus, 'role' | 'matchIndex' | 'id'> & { role: string; matchIndex?: Record<string, number> };
  members(): NodeInfo[];
}

/** What the handlers need of the metadata state machine (storagenode/meta). */
export interface MetaApi {
  query(op: MetaReadOp, args: unknown): Promise<FsResult<unknown>>;
  usage(): Promise<{ inodes: number; bytes: number }> | { inodes: number; bytes: number };
  blocksReferenced(ids: string[]): Promise<boolean[]>;
  encodeCommand(cmd: { op: string; args: unknown; now: Time }): Uint8Array;
}

export interface DiskStats {
  totalBytes: number;
  freeBytes: number;
}

export interface HandlerDeps {
  selfId: string;
  cluster: string;
  replicas: number;
  raft: RaftApi;
  meta: MetaApi;
  blocks: BlockStore;
  /** The node's clock (ms since the epoch), injected so handlers stay testable. */
  now(): number;
  startedAtMs: number;
  /** This node's disk, and what the peers last reported of theirs (for statfs). */
  disk(): DiskStats;
  peerDisks(): Map<string, DiskStats>;
  peerUp(id: string): boolean;
  log: Logger;
  proposeTimeoutMs?: number;
  /** Lock ops register the asking connection for the `lockGranted` push (storagenode/rpc/lock-waiters.ts). */
  lockWaiters?: LockWaiters;
  /** Client connections receive `changed` pushes; requests carrying a session mark whose they are (change-feed.ts). */
  changeFeed?: ChangeFeed;
  /** Repair, drain and fsck ops, and repair status (storagenode/repair). */
  repair?: RepairService;
  /** A read found a copy that fails its checksum: repair it from a good replica. */
  onCorruptRead?(id: string): void;
}

/** An open's reply carries the first chunk's layout up to this many slices (~64 bytes each). */
const OPEN_LAYOUT_SLICES_MAX = 64;

const READS: ReadonlySet<string> = new Set(META_READ_OPS);
const WRITES: ReadonlySet<string> = new Set(META_WRITE_OPS);
const LOCKS: ReadonlySet<string> = new Set(LOCK_OPS);
export const PEER_OPS: ReadonlySet<string> = new Set(['raft']);
export const ADMIN_OPS: ReadonlySet<string> = new Set(['memberAdd', 'memberRemove', 'blocksReferenced', 'localRead', ...REPAIR_OPS]);

/** Error classes are matched by name/shape: the driver and stores are written by others. */
function errName(e: unknown): string {
  return (e as { name?: string })?.name ?? '';
}
const isNotLeader = (e: unknown) => errName(e) === 'NotLeaderError' || (e as { code?: string })?.code === 'NOT_LEADER';

/** Answers every op a node serves; the node's state comes in through HandlerDeps. */
class NodeHandlers {
  private readonly blockOps: (op: 'blockPut' | 'blockGet' | 'blockHas', args: unknown) => Promise<Outcome>;

  constructor(private readonly d: HandlerDeps) {
    this.blockOps = makeBlockHandlers(d);
  }

  leaderUrl(): string | undefined {
    const id = this.d.raft.status().leader;
    return id ? this.d.raft.members().find((m) => m.id === id)?.url : undefined;
  }

  private notLeader(): Outcome {
    const url = this.leaderUrl();
    const leader = this.d.raft.status().leader;
    return { ok: false, code: 'NOT_LEADER', message: url ? `the leader is ${leader}` : 'no leader is known yet', ...(url ? { leader: url } : {}) };
  }

  private isLeader(): boolean {
    return this.d.raft.isLeader?.() ?? this.d.raft.status().role === 'leader';
  }

  private fromRaftError(e: unknown, what: string): Outcome {
    if (isNotLeader(e)) return this.notLeader();
    this.d.log.debug(`${what} failed: ${(e as Error)?.message ?? e}`);
    return { ok: false, code: 'UNAVAILABLE', message: `${what}: ${(e as Error)?.message ?? String(e)}` };
  }

  private fsOutcome(r: unknown, what: string): Outcome {
    const res = r as FsResult<unknown> | undefined;
    if (res && res.ok === true) return { ok: true, result: res.value };
    if (res && res.ok === false && isErrno(res.errno)) return { ok: false, code: res.errno };
    this.d.log.error(`bug: ${what} returned something that is not an FsResult: ${JSON.stringify(r)?.slice(0, 200)}`);
    return { ok: false, code: 'EIO', message: `internal error in ${what}` };
  }

  /** A namespace change: stamped with the leader's clock, one Raft entry, answered once applied here. */
  private async write(op: MetaWriteOp, args: unknown): Promise<Outcome> {
    if (!this.isLeader()) return this.notLeader();
    const data = this.d.meta.encodeCommand({ op, args, now: timeFromMs(this.d.now()) });
    let out: Outcome;
    try {
      out = this.fsOutcome(await withTimeout(this.d.raft.propose(data), this.d.proposeTimeoutMs ?? 10_000, `${op} not committed in time`), op);
    } catch (e) {
      return this.fromRaftError(e, op);
    }
    return op === 'open' && out.ok ? this.withFirstLayout(out) : out;
  }

  /**
   * An open of a file with data also gets its first chunk's layout (OpenLayout), read here right after
   * the open applied (or with an openRead's own read), so everything closed before the open is in it: a small file's read then needs no
   * readChunk. Left out when the chunk has many slices (the reply stays small) or the read fails.
   */
  private async withFirstLayout(out: Outcome & { ok: true }, inline = false): Promise<Outcome> {
    const a = out.result as { ino?: number; mode?: number; size?: number; version?: number };
    if (typeof a.ino !== 'number' || !a.size || ((a.mode ?? 0) & S_IFMT) !== S_IFREG) return out;
    const r = await this.d.meta.query('readChunk', { ino: a.ino, chunk: 0 }).catch(() => undefined);
    if (!r?.ok) return out;
    const layout = r.value as { slices: Slice[]; size: number; version: number };
    if (layout.slices.length > OPEN_LAYOUT_SLICES_MAX || layout.version !== a.version) return out;
    const blocks0 = inline && a.size <= INLINE_FILE_BYTES_MAX ? await this.localBytes(layout.slices) : undefined;
    return { ok: true, result: { ...a, chunk0: layout, ...(blocks0 ? { blocks0 } : {}) } };
  }

  /**
   * The bytes the slices of a small file name, from this node's own store (OpenLayout.blocks0), or
   * undefined if it lacks one or a copy fails its checksum (then repaired, as a read would): the
   * client then fetches them as usual.
   */
  private async localBytes(slices: Slice[]): Promise<{ block: string; off: number; data: Uint8Array }[] | undefined> {
    if (slices.reduce((n, s) => n + s.len, 0) > 2 * INLINE_FILE_BYTES_MAX) return undefined; // overwritten many times
    try {
      const out = [];
      for (const s of slices) {
        const data = await this.d.blocks.get(s.block, s.off, s.len);
        if (!data || data.byteLength !== s.len) return undefined;
        out.push({ block: s.block, off: s.off, data });
      }
      return out;
    } catch (e) {
      if (errName(e) === 'BlockCorruptError') this.d.onCorruptRead?.((e as { id: string }).id);
      return undefined;
    }
  }

  /**
   * A linearizable read: the leader confirms it still leads before reading, from its lease when it
   * holds one (dissertation §6.4.1, storagenode/raft/read-tracker.ts), else by a ReadIndex round (§6.4).
   */
  private async read(op: MetaReadOp, args: unknown): Promise<Outcome> {
    if (!this.isLeader()) return this.notLeader();
    if (!this.d.raft.readyForLocalRead?.()) {
      const refused = await this.readBarrier(op);
      if (refused) return refused;
    }
    if (op === 'statfs') return { ok: true, result: await this.statfs() };
    const out = this.fsOutcome(await this.d.meta.query(op, args), op);
    return op === 'openRead' && out.ok ? this.withFirstLayout(out, true) : out;
  }

  private async readBarrier(op: MetaReadOp): Promise<Outcome | undefined> {
    try {
      await withTimeout(this.d.raft.readBarrier(), this.d.proposeTimeoutMs ?? 10_000, 'read barrier not confirmed in time');
    } catch (e) {
      return this.fromRaftError(e, `${op} read barrier`);
    }
    return undefined;
  }

  /** Capacity over all members, divided by the replica count: every byte is stored R times. */
  private async statfs(): Promise<StatFs> {
    const disks = [this.d.disk(), ...this.d.peerDisks().values()];
    const r = Math.max(1, Math.min(this.d.replicas, this.d.raft.members().length));
    const total = disks.reduce((s, x) => s + x.totalBytes, 0) / r;
    const free = disks.reduce((s, x) => s + x.freeBytes, 0) / r;
    const usage = await this.d.meta.usage();
    const filesFree = 2 ** 32; // inodes are LevelDB keys: no fixed table to run out of
    return {
      blockSize: 4096, totalBytes: Math.floor(total), freeBytes: Math.floor(free), availBytes: Math.floor(free),
      files: usage.inodes + filesFree, filesFree, nameMax: NAME_BYTES_MAX,
    };
  }

  status(): NodeStatus {
    const d = this.d;
    const s = d.raft.status();
    const stats = d.blocks.stats();
    const self = s.members.find((m) => m.id === d.selfId);
    return {
      node: d.selfId, url: self?.url ?? '', cluster: d.cluster, role: s.role === 'preCandidate' ? 'candidate' : (s.role as NodeStatus['role']),
      term: s.term, leader: s.leader, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex, lastIndex: s.lastIndex,
      snapshotIndex: s.snapshotIndex,
      members: s.members.map((m) => ({ ...m, reachable: m.id === d.selfId || d.peerUp(m.id), ...(s.matchIndex?.[m.id] !== undefined ? { matchIndex: s.matchIndex[m.id] } : {}) })),
      blocks: { count: stats.count, bytes: stats.bytes }, disk: d.disk(), uptimeMs: d.now() - d.startedAtMs,
      ...(d.repair ? { repair: d.repair.status() } : {}),
    };
  }

  async request(ctx: ConnContext, op: OpName, args: unknown): Promise<Outcome> {
    if (this.d.changeFeed && ctx.role === 'client') {
      const session = (args as { session?: unknown }).session;
      if (typeof session === 'string') this.d.changeFeed.saw(ctx, session);
    }
    if (this.d.lockWaiters && LOCKS.has(op)) return this.d.lockWaiters.handle(ctx, op, args, () => this.write(op as MetaWriteOp, args));
    if (WRITES.has(op)) return this.write(op as MetaWriteOp, args);
    if (isRepairOp(op) && this.d.repair) {
      return handleRepairOp({ repair: this.d.repair, blocks: this.d.blocks, isLeader: () => this.isLeader(), notLeader: () => this.notLeader(), log: this.d.log }, op, args);
    }
    if (READS.has(op)) return this.read(op as MetaReadOp, args);
    switch (op) {
      case 'raft':
        this.d.raft.receive((args as OpArgs<'raft'>).msg);
        return { ok: true, result: {} };
      case 'blockPut': case 'blockGet': case 'blockHas':
        return this.blockOps(op, args);
      case 'status':
        return { ok: true, result: this.status() };
      case 'memberAdd': case 'memberRemove':
        return this.membership(op, args);
      case 'blocksReferenced':
        return this.referenced((args as OpArgs<'blocksReferenced'>).ids);
      case 'localRead':
        return this.localRead(args as OpArgs<'localRead'>);
      default:
        this.d.log.error(`bug: no handler for op ${op} (from ${ctx.remote})`);
        return { ok: false, code: 'ENOSYS', message: `${op} is not served by storage nodes` };
    }
  }

  private async membership(op: 'memberAdd' | 'memberRemove', args: unknown): Promise<Outcome> {
    if (!this.isLeader()) return this.notLeader();
    try {
      if (op === 'memberAdd') {
        const a = args as OpArgs<'memberAdd'>;
        await this.d.raft.addMember({ id: a.id, url: a.url, ...(a.zone ? { zone: a.zone } : {}) });
      } else {
        await this.d.raft.removeMember((args as OpArgs<'memberRemove'>).id);
      }
    } catch (e) {
      if (isNotLeader(e)) return this.notLeader();
      return { ok: false, code: 'EBUSY', message: `${op}: ${(e as Error)?.message ?? e}` };
    }
    return { ok: true, result: { members: this.d.raft.members() } };
  }

  private async referenced(ids: string[]): Promise<Outcome> {
    if (!this.isLeader()) return this.notLeader();
    try {
      await this.d.raft.readBarrier();
    } catch (e) {
      return this.fromRaftError(e, 'blocksReferenced read barrier');
    }
    return { ok: true, result: { referenced: await this.d.meta.blocksReferenced(ids) } };
  }

  private async localRead(a: OpArgs<'localRead'>): Promise<Outcome> {
    const checked = OPS[a.op](a.args, 'args.args');
    if (checked instanceof Invalid) return { ok: false, code: 'PROTOCOL', message: `localRead ${a.op}: ${checked}` };
    return { ok: true, result: await this.d.meta.query(a.op, checked) };
  }
}

export function makeHandlers(d: HandlerDeps): RpcHandlers {
  const h = new NodeHandlers(d);
  return {
    hello: (ctx) => {
      d.changeFeed?.attach(ctx); // client connections only; the hello is already checked
      return { protocol: PROTOCOL_VERSION, cluster: d.cluster, node: d.selfId, leader: h.leaderUrl() ?? null, members: d.raft.members(), replicas: d.replicas };
    },
    request: (ctx, op, args) => h.request(ctx, op, args),
  };
}

function makeBlockHandlers(d: HandlerDeps): (op: 'blockPut' | 'blockGet' | 'blockHas', args: unknown) => Promise<Outcome> {
  const fromStoreError = (e: unknown, op: string): Outcome => {
    const name = errName(e);
    if (name === 'BlockCorruptError') {
      d.onCorruptRead?.((e as { id: string }).id);
      return { ok: false, code: 'BAD_CHECKSUM', message: (e as Error).message };
    }
    if (name === 'BlockConflictError') return { ok: false, code: 'EEXIST', message: (e as Error).message };
    if (name === 'BlockStoreClosedError') return { ok: false, code: 'UNAVAILABLE', message: 'node is shutting down' };
    if ((e as { code?: unknown })?.code === 'ENOSPC') {
      d.log.warn(`${op}: no space left on this node's disk: ${(e as Error).message}`);
      return { ok: false, code: 'ENOSPC', message: `${op}: no space left on node ${d.selfId}` };
    }
    d.log.error(`${op} failed: ${(e as Error)?.stack ?? e}`);
    return { ok: false, code: 'EIO', message: `${op}: ${(e as Error)?.message ?? e}` };
  };
  return async (op, args) => {
    try {
      if (op === 'blockPut') {
        const a = args as OpArgs<'blockPut'>;
        await d.blocks.put(a.id, a.data);
        return { ok: true, result: {} };
      }
      if (op === 'blockGet') {
        const a = args as OpArgs<'blockGet'>;
        const data = await d.blocks.get(a.id, a.off, a.len);
        return data ? { ok: true, result: { data } } : { ok: false, code: 'ENOENT', message: `no block ${a.id} on ${d.selfId}` };
      }
      const ids = (args as OpArgs<'blockHas'>).ids;
      return { ok: true, result: { have: await Promise.all(ids.map((id) => d.blocks.has(id))) } };
    } catch (e) {
      return fromStoreError(e, op);
    }
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
