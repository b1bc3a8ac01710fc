import { fail, type FsResult } from '../../shared/errno.js';
import { OPS, type MetaReadOp, type OpArgs, type OpResults } from '../../shared/protocol/ops.js';
import { ROOT_INO, S_IFDIR } from '../../shared/types.js';
import { Invalid } from '../../shared/wire/validate.js';
import type { AppliedEntry, SnapshotImage, StateMachine } from '../state-machine.js';
import { execute } from './apply.js';
import { decodeCommand } from './command.js';
import { CachedKv } from './cached-kv.js';
import { K } from './keys.js';
import type { Kv, KvSnapshot } from './kv.js';
import { MemKv } from './mem-kv.js';
import { pack, unpack, type AppliedRec, type Counters, type InodeRec } from './records.js';
import { runQuery } from './reads.js';
import { imageChunks, restoreImage } from './snapshot.js';
import { migrateFormat } from './format.js';
import { Tx, type EntryChanges, type TxHints } from './tx.js';
import { trace, tracing } from '../raft/trace.js';

export interface MetaOpenOptions {
  /** Called once when open() finds a restore that never finished (the store is wiped to empty). */
  onInterruptedRestore?: (marker: AppliedRec) => void;
}

/** The root directory every store starts with. Time 0: apply() has no clock, and all replicas agree. */
function rootInode(): InodeRec {
  return {
    ino: ROOT_INO, type: 'dir', mode: S_IFDIR | 0o755, uid: 0, gid: 0, nlink: 2, size: 0, rdev: 0,
    atime: [0, 0], mtime: [0, 0], ctime: [0, 0], version: 0, parent: ROOT_INO,
  };
}

/** A batch's effects, computed and not yet stored. */
interface Computed {
  tx: Tx;
  results: unknown[];
  grants: { session: string; waiter: number }[][];
  /** Per successful entry that changed something clients cache; empty unless wantChanges() said so. */
  changes: EntryChanges[];
  applied: AppliedRec;
}

interface PendingApply {
  entry: AppliedEntry;
  /** Resolve once the result is final rather than once stored (applyEarly). */
  early: boolean;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/**
 * The metadata state machine: one Raft entry = one command, stored atomically with the applied
 * index. Entries handed over while an earlier write is in progress are stored together, in one
 * batch (each entry whole, applied = the last one's index), so a backlog costs one LevelDB write
 * instead of one per entry. Point reads go through a write-through cache (cached-kv.ts); reads
 * (query) see every applied entry.
 */
export class MetaStateMachine implements StateMachine {
  private appliedRec: AppliedRec = { index: 0, term: 0 };
  private counters: Counters = { nextIno: 2, inodes: 1, bytes: 0 };
  private chain: Promise<unknown> = Promise.resolve();
  /** Entries waiting for the next batch, in log order. */
  private pending: PendingApply[] = [];
  /** Kept across entries to skip work whose outcome is known (tx.ts); forgotten with the store. */
  private readonly hints: TxHints = { dedupLow: new Map() };
  /** The latest batch write (see whenStored). */
  private stored: Promise<void> = Promise.resolve();
  /** Set while an apply's batch is being written: snapshots taken then wait for it (see exportSnapshot). */
  private inFlight: { entry: AppliedRec; waiters: ((s: KvSnapshot) => void)[] } | undefined;
  /**
   * Told, once an entry's batch is stored, which lock waiters it granted (or failed), on every
   * replica alike; the node whose connection the waiting client registered on pushes `lockGranted`.
   */
  onLockGrants: (grants: { session: string; waiter: number }[]) => void = () => {};
  /**
   * Asked once per batch: whether to work out what each entry changed (Tx.changes, a cached get per
   * written inode or entry key). The node says yes only while it leads and clients are connected;
   * the answer never changes a result or the store, so replicas may differ in it.
   */
  wantChanges: () => boolean = () => false;
  /** Told, once a batch is stored, what its entries changed (only for batches wantChanges() accepted). */
  onChanges: (changes: EntryChanges[]) => void = () => {};

  private readonly kv: Kv;
  private constructor(store: Kv) {
    this.kv = new CachedKv(store);
  }

  static async open(dir: string, opts: MetaOpenOptions = {}): Promise<MetaStateMachine> {
    const { LevelKv } = await import('./level-kv.js');
    return MetaStateMachine.over(await LevelKv.open(dir), opts);
  }
  /** Over any store; `MetaStateMachine.memory()` is the in-memory one for tests and the simulation. */
  static async over(kv: Kv, opts: MetaOpenOptions = {}): Promise<MetaStateMachine> {
    const sm = new MetaStateMachine(kv);
    await sm.load(opts);
    return sm;
  }
  static memory(kv: Kv = new MemKv()): Promise<MetaStateMachine> {
    return MetaStateMachine.over(kv);
  }

  private async load(opts: MetaOpenOptions): Promise<void> {
    const marker = await this.kv.get(K.restoring());
    if (marker) {
      opts.onInterruptedRestore?.(unpack<AppliedRec>(marker));
      await this.kv.clear({});
    }
    const applied = await this.kv.get(K.applied());
    if (applied) this.appliedRec = unpack<AppliedRec>(applied);
    if (!(await this.kv.get(K.inode(ROOT_INO)))) {
      await this.kv.write([
        { type: 'put', key: K.inode(ROOT_INO), value: pack(rootInode()) },
        { type: 'put', key: K.counters(), value: pack(this.counters) },
      ], { sync: true });
    }
    await migrateFormat(this.kv);
    const c = await this.kv.get(K.counters());
    if (c) this.counters = unpack<Counters>(c);
  }

  applied(): { index: number; term: number } {
    return { ...this.appliedRec };
  }

  /**
   * Serialised: each batch lands before the next one is computed. Entries given while a batch is
   * queued or being written join the next one. Resolves once the entry is stored.
   */
  apply(entry: AppliedEntry): Promise<unknown> {
    return this.enqueue(entry, false);
  }

  /** As apply(), but resolves as soon as the result is final, before it is stored (see whenStored). */
  applyEarly(entry: AppliedEntry): Promise<unknown> {
    return this.enqueue(entry, true);
  }

  private enqueue(entry: AppliedEntry, early: boolean): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (tracing) trace('smenq', entry.index);
      this.pending.push({ entry, early, resolve, reject });
      if (this.pending.length > 1) return; // a batch run is already queued for these
      const run = this.chain.then(() => this.applyPending());
      this.chain = run.catch(() => undefined);
    });
  }

  private async applyPending(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (tracing) trace('smstart', batch[batch.length - 1]!.entry.index);
    let done: Computed;
    try {
      done = await this.computeBatch(batch.map((p) => p.entry));
      if (tracing) trace('smdone', batch[batch.length - 1]!.entry.index);
    } catch (e) {
      for (const p of batch) p.reject(e as Error);
      return;
    }
    if (done.applied === this.appliedRec) return batch.forEach((p, k) => p.resolve(done.results[k]));
    // The results are final and every later batch is computed after this write: proposers may learn
    // them now. Readers wait for applied(), which moves only once the write has landed. The write is
    // issued a macrotask later, so the answers leave first: issuing a LevelDB batch costs the main
    // thread ~0.1-0.3 ms (abstract-level encodes and classic-level copies every op synchronously).
    const anyEarly = batch.some((p) => p.early);
    const stored = (anyEarly ? new Promise<void>((r) => setImmediate(r)) : Promise.resolve()).then(() => this.storeBatch(done));
    this.stored = stored; // whenStored() follows the latest write
    stored.catch(() => {}); // its failure reaches whoever waits on whenStored(), and the chain
    batch.forEach((p, k) => p.early && p.resolve(done.results[k]));
    try {
      await stored;
    } catch (e) {
      for (const p of batch) if (!p.early) p.reject(e as Error);
      throw e;
    }
    batch.forEach((p, k) => !p.early && p.resolve(done.results[k]));
  }

  /**
   * Resolves once every batch whose results apply() has handed out is stored and applied() covers
   * it; rejects if storing failed (the node must stop then: the entries are in the Raft log only).
   */
  whenStored(): Promise<void> {
    return this.stored;
  }

  /** Runs each entry in a Tx of its own over the batch's writes so far. */
  private async computeBatch(entries: AppliedEntry[]): Promise<Computed> {
    const batch = new Tx(this.kv, [0, 0], 0);
    const results: unknown[] = [];
    const grants: { session: string; waiter: number }[][] = [];
    const changes: EntryChanges[] = [];
    const want = this.wantChanges();
    let applied = this.appliedRec;
    for (const entry of entries) {
      if (entry.index <= applied.index) { // already in the store: a replay
        results.push(fail('EINVAL'));
        continue;
      }
      const { result, tx, session } = await this.run(batch, entry);
      if (want && result?.ok) {
        const c = await tx.changes(); // before mergeInto: judged against the state before this entry
        if (c.inos.length || c.entries.length) changes.push({ session, ...c });
      }
      tx.mergeInto(batch);
      if (tx.lockGrants.length) grants.push(tx.lockGrants.slice());
      results.push(result);
      applied = { index: entry.index, term: entry.term };
    }
    return { tx: batch, results, grants, changes, applied };
  }

  /** Stores a computed batch with its applied index in one write, then moves applied(). */
  private async storeBatch(done: Computed): Promise<void> {
    done.tx.putVal(K.applied(), done.applied);
    this.inFlight = { entry: done.applied, waiters: [] };
    try {
      await this.kv.write(done.tx.ops());
    } finally {
      const waiters = this.inFlight.waiters;
      this.inFlight = undefined;
      // Same tick as the write's completion: no later apply can slip in before these snapshots.
      for (const w of waiters) w(this.kv.snapshot());
    }
    this.appliedRec = done.applied;
    const c = await done.tx.getVal<Counters>(K.counters());
    if (c) this.counters = c;
    for (const g of done.grants) this.onLockGrants(g);
    if (done.changes.length) this.onChanges(done.changes);
  }

  /** One entry's command in its own Tx (a failed op leaves only what execute() keeps). */
  private async run(over: Tx, entry: AppliedEntry): Promise<{ result: FsResult<unknown> | undefined; tx: Tx; session?: string }> {
    if (entry.data.byteLength === 0) return { result: undefined, tx: new Tx(over, [0, 0], entry.index) };
    const cmd = decodeCommand(entry.data);
    if (!cmd.ok) return { result: cmd, tx: new Tx(over, [0, 0], entry.index) };
    const tx = new Tx(over, cmd.value.now, entry.index, this.hints);
    const session = (cmd.value.args as { session?: unknown }).session;
    return { result: await execute(tx, cmd.value), tx, ...(typeof session === 'string' ? { session } : {}) };
  }

  /**
   * A consistent image as of applied(). If a batch is being written right now, the image is of that
   * entry instead, taken the moment its write completes, before the next apply can start.
   */
  exportSnapshot(): SnapshotImage {
    let snap: Promise<KvSnapshot>;
    let at: AppliedRec;
    if (this.inFlight) {
      at = this.inFlight.entry;
      snap = new Promise((resolve) => this.inFlight!.waiters.push(resolve));
    } else {
      at = this.applied();
      snap = Promise.resolve(this.kv.snapshot());
    }
    return {
      index: at.index,
      term: at.term,
      async *chunks() {
        const s = await snap;
        try {
          yield* imageChunks(s);
        } finally {
          await s.close();
        }
      },
    };
  }

  restoreSnapshot(index: number, term: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const run = this.chain.then(async () => {
      this.appliedRec = { index: 0, term: 0 }; // never claim more than is stored, even mid-restore
      this.hints.dedupLow.clear(); // the image may hold replies below what we saw
      await restoreImage(this.kv, index, term, chunks);
      this.appliedRec = { index, term };
      const c = await this.kv.get(K.counters());
      this.counters = c ? unpack<Counters>(c) : { nextIno: 2, inodes: 1, bytes: 0 };
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** A synced write flushes LevelDB's log, and with it every unsynced batch before it. */
  flush(): Promise<void> {
    const run = this.chain.then(() => this.kv.write([{ type: 'put', key: K.applied(), value: pack(this.appliedRec) }], { sync: true }));
    this.chain = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.kv.close();
  }

  /** Linearizable only if the caller has passed a read barrier (ReadIndex) first; this reads the store. */
  async query<O extends MetaReadOp>(op: O, args: OpArgs<O>): Promise<FsResult<OpResults[O]>> {
    const checked = (OPS[op] as (x: unknown, p: string) => unknown)(args, 'args');
    if (checked instanceof Invalid) return fail('EINVAL');
    return runQuery(this.kv, op, checked as OpArgs<O>);
  }

  /** For statfs: inodes in use and bytes of file data (logical sizes); the node adds capacity. */
  usage(): { inodes: number; bytes: number } {
    return { inodes: this.counters.inodes, bytes: this.counters.bytes };
  }

  /** For the leader's reaper: whether some inode was retired before `beforeMs` (lifecycle.ts reapOrphans). */
  async orphansDue(beforeMs: number): Promise<boolean> {
    for await (const _ of this.kv.range({ gte: K.reapPrefix(), lt: K.reap(beforeMs, 0), limit: 1 })) return true;
    return false;
  }

  /** For the block collector: whether any committed slice still names each block. */
  async blocksReferenced(ids: string[]): Promise<boolean[]> {
    return Promise.all(ids.map(async (id) => (await this.kv.get(K.ref(id))) !== undefined));
  }

  /** For repair and fsck: the block ids committed slices name (`r/` keys), in id order, after `after`. */
  async referencedBlocks(after: string | undefined, limit: number): Promise<string[]> {
    const end = Buffer.from('r0'); // prefixEnd('r/')
    const range = after === undefined ? { gte: Buffer.from('r/'), lt: end, limit } : { gt: K.ref(after), lt: end, limit };
    const out: string[] = [];
    for await (const [k] of this.kv.range(range)) out.push(k.subarray(2).toString());
    return out;
  }
}
