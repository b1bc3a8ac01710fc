import { Level } from 'level';
import { Packr } from 'msgpackr';
import { assert } from '../../shared/assert.js';
import type { NodeInfo } from '../../shared/types.js';
import type { Entry, HardState, SnapshotMeta } from './types.js';

/**
 * The Raft LevelDB: hard state, log entries, the compaction point and, during an InstallSnapshot,
 * the snapshot being installed. Keys:
 *   hs            HardState
 *   snap          SnapshotMeta: the log starts after snap.index
 *   pending-snap  SnapshotMeta of an image being restored into the state machine (two-phase install)
 *   e/<index>     Entry, index zero-padded to 16 digits so keys sort numerically
 */
const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' });
const enc = (v: unknown): Uint8Array => packr.pack(v);
const dec = <T>(v: Uint8Array): T => packr.unpack(v) as T;
const entryKey = (i: number) => `e/${String(i).padStart(16, '0')}`;
const ENTRIES_END = 'e0'; // '0' sorts right after '/'

type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

export interface Loaded {
  hardState: HardState;
  snapshot: SnapshotMeta;
  entries: Entry[];
  pendingSnapshot: SnapshotMeta | null;
  fresh: boolean;
}

export class RaftStorage {
  /** Last entry index on disk; entries past a new write's end are stale after a truncation. */
  private persistedLast = 0;
  /** Term and vote last written: only a change of either (or new entries) needs an fsync. */
  private durable: { term: number; vote: string | null } = { term: 0, vote: null };
  /** The last write issued; writes are chained so LevelDB sees them in call order. */
  private tail: Promise<void> = Promise.resolve();
  /** A hard state whose only change is the commit index, not written yet (see save). */
  private pendingHs: HardState | undefined;

  private constructor(private readonly db: Level<string, Uint8Array>) {}

  static async open(dir: string): Promise<RaftStorage> {
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
    return new RaftStorage(db);
  }

  async load(bootstrap: NodeInfo[]): Promise<Loaded> {
    const hsRaw = await this.db.get('hs');
    const snapRaw = await this.db.get('snap');
    const pendingRaw = await this.db.get('pending-snap');
    const fresh = hsRaw === undefined && snapRaw === undefined;
    const snapshot: SnapshotMeta = snapRaw ? dec(snapRaw) : { index: 0, term: 0, members: bootstrap };
    if (fresh) await this.db.put('snap', enc(snapshot), { sync: true });
    const entries: Entry[] = [];
    for await (const [, v] of this.db.iterator({ gt: entryKey(snapshot.index), lt: ENTRIES_END })) {
      const e = dec<Entry>(v);
      // A compaction writes the new snapshot point before it deletes entries, so older ones may linger.
      assert(e.index === snapshot.index + entries.length + 1, `raft log gap before entry ${e.index}`);
      entries.push(e);
    }
    this.persistedLast = snapshot.index + entries.length;
    const hardState: HardState = hsRaw ? dec(hsRaw) : { term: 0, vote: null, commit: 0 };
    this.durable = { term: hardState.term, vote: hardState.vote };
    return {
      hardState,
      snapshot,
      entries,
      pendingSnapshot: pendingRaw ? dec(pendingRaw) : null,
      fresh,
    };
  }

  /**
   * One batch: the hard state and new entries land together; entries past the new end are stale.
   * New entries or a new term or vote are synced before the promise resolves, and the caller sends
   * what depends on them only then (acknowledged means durable). A change of the commit index alone
   * is not written by itself (etcd's MustSync says it needs no fsync; here it needs no write either):
   * it rides along with the next write of entries, term or vote, and with close(). The commit index
   * is volatile state in Raft (Figure 2): a lost one is learned again from the leader, and the core
   * takes max(commit, applied) at start. Skipping the write saves a LevelDB batch per commit on every
   * node (~0.1-0.3 ms of main-thread work each, on the leader right before it applies). Writes are
   * chained so LevelDB sees them in call order.
   */
  save(hs: HardState | undefined, entries: Entry[]): Promise<void> {
    if (!this.needsSync(hs, entries)) {
      if (hs) this.pendingHs = hs;
      return this.tail;
    }
    const ops: Op[] = [];
    hs ??= this.pendingHs;
    this.pendingHs = undefined;
    if (hs) {
      ops.push({ type: 'put', key: 'hs', value: enc(hs) });
      this.durable = { term: hs.term, vote: hs.vote };
    }
    const last = entries[entries.length - 1];
    if (last) {
      for (const e of entries) ops.push({ type: 'put', key: entryKey(e.index), value: enc(e) });
      for (let i = last.index + 1; i <= this.persistedLast; i++) ops.push({ type: 'del', key: entryKey(i) });
      this.persistedLast = last.index;
    }
    this.tail = this.tail.then(() => this.db.batch(ops, { sync: true }));
    return this.tail;
  }

  /** Whether save(hs, entries) would fsync: the driver may send a leader's messages before it. */
  needsSync(hs: HardState | undefined, entries: Entry[]): boolean {
    return entries.length > 0 || (hs !== undefined && (hs.term !== this.durable.term || hs.vote !== this.durable.vote));
  }

  /** Phase one of an install: remember what is being restored, before touching the state machine. */
  async beginSnapshot(s: SnapshotMeta): Promise<void> {
    await this.tail;
    await this.db.put('pending-snap', enc(s), { sync: true });
  }

  /** Phase two: the state machine holds the image; the log now starts after it. */
  async finishSnapshot(s: SnapshotMeta): Promise<void> {
    await this.tail;
    await this.db.clear({ gte: 'e/', lt: ENTRIES_END });
    await this.db.batch([
      { type: 'put', key: 'snap', value: enc(s) },
      { type: 'del', key: 'pending-snap' },
    ], { sync: true });
    this.persistedLast = s.index;
  }

  async abandonSnapshot(): Promise<void> {
    await this.tail;
    await this.db.del('pending-snap', { sync: true });
  }

  /** Moves the compaction point, then drops the entries it covers. */
  async compact(s: SnapshotMeta): Promise<void> {
    await this.tail;
    await this.db.put('snap', enc(s), { sync: true });
    await this.db.clear({ gte: 'e/', lte: entryKey(s.index) });
  }

  async close(): Promise<void> {
    await this.tail.catch(() => {}); // a failed write has already stopped the node
    if (this.pendingHs) await this.db.put('hs', enc(this.pendingHs)).catch(() => {}); // a hint: best effort
    await this.db.close();
  }
}
