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
    return {
      hardState: hsRaw ? dec(hsRaw) : { term: 0, vote: null, commit: 0 },
      snapshot,
      entries,
      pendingSnapshot: pendingRaw ? dec(pendingRaw) : null,
      fresh,
    };
  }

  /**
   * One synchronous batch: the hard state and new entries are durable together before any message
   * of the same Ready leaves (acknowledged means durable). Entries past the new end are stale.
   */
  async save(hs: HardState | undefined, entries: Entry[]): Promise<void> {
    const ops: Op[] = [];
    if (hs) ops.push({ type: 'put', key: 'hs', value: enc(hs) });
    const last = entries[entries.length - 1];
    if (last) {
      for (const e of entries) ops.push({ type: 'put', key: entryKey(e.index), value: enc(e) });
      for (let i = last.index + 1; i <= this.persistedLast; i++) ops.push({ type: 'del', key: entryKey(i) });
      this.persistedLast = last.index;
    }
    if (ops.length) await this.db.batch(ops, { sync: true });
  }

  /** Phase one of an install: remember what is being restored, before touching the state machine. */
  async beginSnapshot(s: SnapshotMeta): Promise<void> {
    await this.db.put('pending-snap', enc(s), { sync: true });
  }

  /** Phase two: the state machine holds the image; the log now starts after it. */
  async finishSnapshot(s: SnapshotMeta): Promise<void> {
    await this.db.clear({ gte: 'e/', lt: ENTRIES_END });
    await this.db.batch([
      { type: 'put', key: 'snap', value: enc(s) },
      { type: 'del', key: 'pending-snap' },
    ], { sync: true });
    this.persistedLast = s.index;
  }

  async abandonSnapshot(): Promise<void> {
    await this.db.del('pending-snap', { sync: true });
  }

  /** Moves the compaction point, then drops the entries it covers. */
  async compact(s: SnapshotMeta): Promise<void> {
    await this.db.put('snap', enc(s), { sync: true });
    await this.db.clear({ gte: 'e/', lte: entryKey(s.index) });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
