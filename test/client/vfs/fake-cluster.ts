import { FsError } from '../../../shared/errno.js';
import { META_READ_OPS, type MetaReadOp, type OpResults } from '../../../shared/protocol/ops.js';
import { RpcError } from '../../../shared/rpc/rpc-error.js';
import { timeFromMs } from '../../../shared/time.js';
import type { BlockId } from '../../../shared/types.js';
import { encodeCommand, type MetaCommand } from '../../../storagenode/meta/command.js';
import { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';
import type { MetaArgs, MetaOp } from '../../../client/rpc/cluster-client.js';
import type { ClusterApi } from '../../../client/vfs/types.js';
import { BlockMissingError } from '../../../client/rpc/block-io.js';
import { encodeFrame } from '../../../shared/wire/codec.js';

/**
 * FOR UNIT TESTS ONLY: the cluster as the VFS sees it, in one process. Metadata goes through the real
 * state machine (in memory, one entry at a time, the way the Raft driver applies), blocks live in a
 * Map. Counters let tests check what went over the "wire".
 */
export class FakeCluster implements ClusterApi {
  readonly blocks = new Map<BlockId, Uint8Array>();
  readonly calls = new Map<string, number>();
  private index = 0;
  private chain: Promise<unknown> = Promise.resolve();
  session = '';
  nowMs = Date.now();
  /** Set to make the next block puts fail (simulating lost replicas). */
  failPuts = false;

  private constructor(readonly sm: MetaStateMachine) {}

  static async create(): Promise<FakeCluster> {
    const f = new FakeCluster(await MetaStateMachine.memory());
    f.session = (await f.meta('sessionOpen' as MetaOp, { client: 'fake', leaseMs: 3_600_000 } as never) as unknown as OpResults['sessionOpen']).session;
    return f;
  }

  private newSession: () => void = () => {};
  onNewSession(cb: () => void): void {
    this.newSession = cb;
  }
  /** As when a lease lapsed: the old session's opens are gone, a new session is opened and the VFS told. */
  async replaceSession(): Promise<void> {
    const old = this.session;
    this.session = (await this.meta('sessionOpen' as MetaOp, { client: 'fake', leaseMs: 3_600_000 } as never) as unknown as OpResults['sessionOpen']).session;
    await this.meta('sessionClose' as MetaOp, { session: old } as never);
    this.newSession();
  }

  private count(k: string): void {
    this.calls.set(k, (this.calls.get(k) ?? 0) + 1);
  }

  async meta<O extends MetaOp>(op: O, args: MetaArgs<O>): Promise<OpResults[O]> {
    this.count(op);
    const full = { ...args } as Record<string, unknown>;
    if (['open', 'release'].includes(op) || full.open || full.releases) full.session = this.session;
    let r;
    if ((META_READ_OPS as readonly string[]).includes(op)) {
      r = await this.sm.query(op as MetaReadOp, full as never);
    } else {
      r = (await this.apply({ op, args: full, now: timeFromMs(Date.now()) } as MetaCommand)) as { ok: boolean; value?: unknown; errno?: string };
      // Unlinked files nobody has open are reaped at once, as if their grace period had passed (the
      // grace itself is the state machine's to test: test/storagenode/meta/grace.test.ts).
      if (await this.sm.orphansDue(Date.now() + 1)) await this.apply({ op: 'reapOrphans', args: { before: timeFromMs(Date.now() + 1) }, now: timeFromMs(Date.now()) });
    }
    if (!r.ok) throw new RpcError((r as unknown as { errno: never }).errno);
    return (r as { value: OpResults[O] }).value;
  }

  private apply(cmd: MetaCommand): Promise<unknown> {
    const data = encodeCommand(cmd);
    const p = this.chain.then(() => this.sm.apply({ index: ++this.index, term: 1, data }));
    this.chain = p.catch(() => {});
    return p;
  }

  async putBlock(id: BlockId, data: Uint8Array): Promise<void> {
    this.count('blockPut');
    // What the real connection would do with it: frame it where it lies, or copy it (room.ts).
    if (encodeFrame({ id: 1, op: 'blockPut', args: { id, data } }).buffer === data.buffer) this.count('blockPutInPlace');
    await new Promise((res) => setImmediate(res));
    if (this.failPuts) throw new RpcError('UNAVAILABLE', 'fake: replicas down');
    this.blocks.set(id, Buffer.from(data));
  }

  /** As BlockIo does: a block no member holds is BlockMissingError with missingFast, else (after the retries) EIO. */
  async getBlock(id: BlockId, off: number, len: number, opts: { missingFast?: boolean } = {}): Promise<Uint8Array> {
    this.count('blockGet');
    const b = this.blocks.get(id);
    if (!b && opts.missingFast) throw new BlockMissingError(id, 'fake: ENOENT on every member');
    if (!b) throw new FsError('EIO', `fake: no block ${id}`);
    return b.subarray(off, off + len);
  }
}
