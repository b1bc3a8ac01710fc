import type { Logger } from '../../shared/log.js';
import type { OpResults } from '../../shared/protocol/ops.js';
import type { BlockId, Cred } from '../../shared/types.js';
import type { MetaArgs, MetaOp } from '../rpc/cluster-client.js';

/** Who asks: from the FUSE context, with supplementary groups read from /proc/<pid>/status by the adapter. */
export interface OpContext extends Cred {
  pid: number;
}

/** The cluster as the VFS uses it (ClusterClient, or a fake in unit tests). */
export interface ClusterApi {
  meta<O extends MetaOp>(op: O, args: MetaArgs<O>): Promise<OpResults[O]>;
  putBlock(id: BlockId, data: Uint8Array): Promise<void>;
  /** missingFast: throw BlockMissingError (client/rpc/block-io.ts) when no member has a good copy, instead of retrying. */
  getBlock(id: BlockId, off: number, len: number, opts?: { missingFast?: boolean }): Promise<Uint8Array>;
  /** The session id open files are registered under (for re-registration after a new session). */
  onNewSession?: (cb: () => void) => void;
  /**
   * Registers a read-only open that `openRead` answered, later (with another request), or never if its
   * release comes first (client/rpc/cluster-client.ts). Without it, read-only opens use `open`.
   */
  openLater?: (ino: number) => void;
}

export interface VfsClock {
  nowMs(): number;
}

export interface VfsOptions {
  cluster: ClusterApi;
  clock: VfsClock;
  /** 16+ hex digits of randomness for block ids; injected so the VFS does no I/O of its own. */
  randomHex: () => string;
  log: Logger;
  /** How long resolved paths and their attributes stay cached (as long as the kernel caches them; 0 in strict mode). */
  pathTtlMs: number;
  /**
   * How long the path cache keeps names and their attributes (default pathTtlMs). Other mounts' changes
   * reach it by push like the kernel's caches, so this only bounds what a missed push could leave; it
   * may outlast the kernel's timeout, which then revalidates from here instead of from the cluster.
   */
  namesTtlMs?: number;
  /**
   * How long a chmod, chown or utimens of a file with buffered writes may wait to ride on their commit
   * (client/vfs/deferred-attrs.ts): the most another mount can lag behind it. 0 or absent: never
   * deferred (strict mode keeps metadata operations linearizable).
   */
  deferAttrsMs?: number;
  /** Blocks uploading at once per file before a write waits. */
  uploadsInFlightMax?: number;
  /** Bytes read ahead of a sequential reader. */
  readaheadBytes?: number;
}

export const credOf = (ctx: OpContext): Cred => ({ uid: ctx.uid, gid: ctx.gid, groups: ctx.groups.slice(0, 64) });
