import type { Logger } from '../../shared/log.js';
import { placeReplicas, writeQuorum } from '../../shared/placement.js';
import { PreparedRequest } from '../../shared/rpc/connection.js';
import { RpcError } from '../../shared/rpc/rpc-error.js';
import type { BlockId, NodeInfo } from '../../shared/types.js';
import { backoffMs, type ConnPool, type RpcClock } from './conn-pool.js';

/**
 * Block I/O straight to the replica nodes (DESIGN.md invariants 2-4). A put goes to the R nodes that
 * rendezvous hashing names, in parallel, and counts as stored once a write quorum has acknowledged
 * (each ack means fsynced on that node); a replica that fails is replaced by the next node in the
 * block's ranking, which repair later moves back. A get tries the ranking in order.
 */
/** How long a node that failed a block call goes to the back of every ranking (a paused node otherwise costs a timeout per block). */
const SUSPECT_MS = 5000;
/** Per-attempt read timeout: a replica that does not answer this fast is skipped for the next one. */
const READ_ATTEMPT_MS_MAX = 5000;

/**
 * Every member answered that it has no good copy of the block (ENOENT or BAD_CHECKSUM), none was
 * unreachable: the block is gone, not late. A reader holding a chunk layout from before a compaction
 * sees this for blocks the collector took; it re-reads the layout instead of retrying.
 */
export class BlockMissingError extends RpcError {
  constructor(readonly id: BlockId, detail: string) {
    super('EIO', `block ${id} is on no member: ${detail}`);
  }
}

const MISSING_CODES: ReadonlySet<string> = new Set(['ENOENT', 'BAD_CHECKSUM']);

export class BlockIo {
  private readonly suspects = new Map<string, number>(); // url → until (clock ms)

  constructor(
    private readonly pool: ConnPool,
    private readonly clock: RpcClock,
    private readonly log: Logger,
    private readonly retryMsMax: number,
    private readonly callTimeoutMs: number,
  ) {}

  /** Nodes in the order this block prefers them: its R replicas first, then the rest as substitutes. */
  ranking(id: BlockId): NodeInfo[] {
    const members = this.pool.members.length ? this.pool.members : this.pool.knownUrls().map((url) => ({ id: url, url }));
    const replicas = placeReplicas(id, members, Math.max(1, Math.min(this.pool.replicas, members.length)));
    const rest = placeReplicas(id, members, members.length).filter((n) => !replicas.some((x) => x.id === n.id));
    const now = this.clock.nowMs();
    const suspect = (n: NodeInfo) => (this.suspects.get(n.url) ?? 0) > now;
    // Nodes that just failed go last: a write then substitutes a healthy node (repair moves the copy
    // back later) and a read asks a healthy replica first, instead of waiting on a dead one each time.
    return [...replicas, ...rest].filter((n) => !suspect(n)).concat([...replicas, ...rest].filter(suspect));
  }

  async putBlock(id: BlockId, data: Uint8Array): Promise<void> {
    const r = Math.max(1, Math.min(this.pool.replicas, this.pool.members.length || this.pool.knownUrls().length));
    const need = writeQuorum(r);
    const deadline = this.clock.nowMs() + this.retryMsMax;
    const stored = new Set<string>();
    for (let attempt = 0; ; attempt++) {
      const lastErr = await this.putPass(id, data, this.ranking(id), r, need, stored);
      if (stored.size >= need) return;
      if (this.clock.nowMs() >= deadline) {
        // Full disks are what the application must hear about (ENOSPC), not a generic outage.
        const code = lastErr instanceof RpcError && lastErr.code === 'ENOSPC' ? 'ENOSPC' : 'UNAVAILABLE';
        throw new RpcError(code, `block ${id}: ${stored.size}/${need} replicas stored after ${this.retryMsMax} ms: ${(lastErr as Error)?.message}`);
      }
      await this.clock.sleep(backoffMs(attempt));
    }
  }

  /**
   * One pass: sends to the best-ranked nodes that do not hold the block yet, up to r copies, replacing
   * a failed node by the next in the ranking. Settles once `need` nodes hold it or nothing is left to
   * try. Acks that come after it settled still count for later passes: their copy is real.
   */
  private putPass(id: BlockId, data: Uint8Array, ranking: NodeInfo[], r: number, need: number, stored: Set<string>): Promise<unknown> {
    return new Promise((resolve) => {
      // Counted by node id, not URL: one node reachable under two URLs must never count twice toward the quorum.
      const candidates = ranking.filter((n) => !stored.has(n.id));
      // Packed once for all replicas of this pass (a 4 MiB copy per replica otherwise).
      const req = new PreparedRequest('blockPut', { id, data });
      let inFlight = 0;
      let lastErr: unknown = null;
      let settled = false;
      const settle = () => { if (!settled) { settled = true; resolve(lastErr); } };
      const launch = (): void => {
        while (stored.size + inFlight < r && candidates.length) {
          const node = candidates.shift()!;
          inFlight++;
          this.call(node.url, (c) => c.callPrepared ? c.callPrepared(req, { timeoutMs: this.callTimeoutMs }) : c.call('blockPut', { id, data }, { timeoutMs: this.callTimeoutMs })).then(
            () => { inFlight--; stored.add(node.id); if (stored.size >= need || inFlight === 0) settle(); },
            (e: unknown) => {
              inFlight--;
              lastErr = e;
              this.log.debug(`blockPut ${id} to ${node.url}: ${(e as Error).message}`);
              launch();
              if (inFlight === 0) settle();
            },
          );
        }
      };
      launch();
      if (inFlight === 0) settle();
    });
  }

  /**
   * Reads [off, off+len) of a block from the first replica that has a good copy. With `missingFast`,
   * a pass in which every member says it has no good copy throws BlockMissingError at once (the caller
   * can ask the metadata again); otherwise such passes are retried like outages, until the deadline.
   */
  async getBlock(id: BlockId, off: number, len: number, opts: { missingFast?: boolean } = {}): Promise<Uint8Array> {
    const deadline = this.clock.nowMs() + this.retryMsMax;
    let lastErr: unknown = null;
    for (let attempt = 0; ; attempt++) {
      const ranking = this.ranking(id);
      let missing = 0;
      for (const node of ranking) {
        try {
          const r = await this.call(node.url, (c) => c.call('blockGet', { id, off, len }, { timeoutMs: Math.min(this.callTimeoutMs, READ_ATTEMPT_MS_MAX) }));
          if (r.data.byteLength !== len) throw new RpcError('EIO', `block ${id} from ${node.url}: ${r.data.byteLength} bytes, wanted ${len}`);
          return r.data;
        } catch (e) {
          lastErr = e; // absent (ENOENT), BAD_CHECKSUM, unreachable: try the next replica
          if (e instanceof RpcError && MISSING_CODES.has(e.code)) missing++;
          this.log.debug(`blockGet ${id} from ${node.url}: ${(e as Error).message}`);
        }
      }
      if (opts.missingFast && ranking.length > 0 && missing === ranking.length) throw new BlockMissingError(id, (lastErr as Error).message);
      if (this.clock.nowMs() >= deadline) {
        throw new RpcError('UNAVAILABLE', `block ${id}: no replica answered in ${this.retryMsMax} ms: ${(lastErr as Error)?.message}`);
      }
      await this.clock.sleep(backoffMs(attempt));
    }
  }

  private async call<T>(url: string, f: (c: Awaited<ReturnType<ConnPool['get']>>) => Promise<T>): Promise<T> {
    try {
      const conn = await this.pool.get(url);
      const r = await f(conn);
      this.suspects.delete(url);
      return r;
    } catch (e) {
      if (!(e instanceof RpcError) || e.code === 'UNAVAILABLE') this.suspects.set(url, this.clock.nowMs() + SUSPECT_MS);
      if (e instanceof RpcError && e.code === 'UNAVAILABLE' && /timed out/.test(e.message)) this.pool.drop(url);
      throw e;
    }
  }
}
