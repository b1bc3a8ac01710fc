import { join } from 'node:path';
import { Level } from 'level';
import { Packr } from 'msgpackr';
import { assert } from '../../shared/assert.js';
import type { NodeInfo } from '../../shared/types.js';
import { EntryFile } from './entry-file.js';
import type { Entry, HardState, SnapshotMeta } from './types.js';

/**
 * The Raft log's storage, in its directory: a LevelDB for the hard state, the compaction point and,
 * during an InstallSnapshot, the snapshot being installed, and the file `entries` (entry-file.ts)
 * for the entries themselves. LevelDB keys:
 *   hs            HardState
 *   snap          SnapshotMeta: the log starts after snap.index
 *   pending-snap  SnapshotMeta of an image being restored into the state machine (two-phase install)
 *   e/<index>     Entry, index zero-padded to 16 digits: where entries were kept before the entry
 *                 file; a store that still has them moves them into the file when it opens
 * LevelDB ignores the foreign file (it only touches files with names it generates).
 */
const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' });
const enc = (v: unknown): Uint8Array => packr.pack(v);
const dec = <T>(v: Uint8Array): T => packr.unpack(v) as T;
const ENTRIES_END = 'e0'; // '0' sorts right after '/'

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

  private constructor(private readonly db: Level<string, Uint8Array>, private readonly file: EntryFile, private readonly fileRecords: Uint8Array[]) {}

  static async open(dir: string): Promise<RaftStorage> {
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
    try {
      const { file, records } = EntryFile.open(join(dir, 'entries'), (p) => dec<Entry>(p).index);
      return new RaftStorage(db, file, records);
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  async load(bootstrap: NodeInfo[]): Promise<Loaded> {
    const hsRaw = await this.db.get('hs');
    const snapRaw = await this.db.get('snap');
    const pendingRaw = await this.db.get('pending-snap');
    const fresh = hsRaw === undefined && snapRaw === undefined;
    const snapshot: SnapshotMeta = snapRaw ? dec(snapRaw) : { index: 0, term: 0, members: bootstrap };
    if (fresh) await this.db.put('snap', enc(snapshot), { sync: true });
    await this.migrateEntries();
    const entries: Entry[] = [];
    for (const raw of this.fileRecords.splice(0)) {
      const e = dec<Entry>(raw);
      // A compaction moves the snapshot point before it drops entries, so older ones may linger.
      if (e.index <= snapshot.index) continue;
      assert(e.index === snapshot.index + entries.length + 1, `raft log gap before entry ${e.index}`);
      entries.push(e);
    }
    if (this.file.lastIndex < snapshot.index) this.file.reset(); // nothing in it is still in the log
    this.persistedLast = snapshot.index + entries.length;
    const hardState: HardState = hsRaw ? dec(hsRaw) : { term: 0, vote: null, commit: 0 };
    hardState.commit = Math.min(hardState.commit, this.persistedLast); // a hint; never past the log
    this.durable = { term: hardState.term, vote: hardState.vote };
    return {
      hardState,
      snapshot,
      entries,
      pendingSnapshot: pendingRaw ? dec(pendingRaw) : null,
      fresh,
    };
  }

  /** A store from before the entry file: its entries move into the file (synced), then leave LevelDB. */
  private async migrateEntries(): Promise<void> {
    const old: Entry[] = [];
    for await (const [, v] of this.db.iterator({ gte: 'e/', lt: ENTRIES_END })) old.push(dec<Entry>(v));
    if (!old.length) return;
    assert(this.file.lastIndex < this.file.firstIndex, 'raft entries both in LevelDB and in the entry file');
    this.file.write(old[0]!.index, old.map((e) => enc(e)));
    await this.file.sync();
    this.fileRecords.push(...old.map((e) => enc(e)));
    await this.db.clear({ gte: 'e/', lt: ENTRIES_END });
  }

  /**
   * New entries (into the entry file) and a new term or vote (into LevelDB) are synced before the
   * promise resolves, each with its own fsync, run in parallel; the caller sends what depends on them
   * only then (acknowledged means durable). Entries past the new end are stale and dropped.
   * The commit index alone is never a reason to write (etcd's MustSync says it needs no fsync; here it
   * gets no write at all): it is volatile state in Raft (Figure 2), a lost one is learned again from
   * the leader, and the core takes max(commit, applied) at start. The latest one rides along when the
   * term or vote is written, and at close(). That saves a LevelDB batch per commit on every node
   * (~0.1-0.3 ms of main-thread work each; on the leader it came right before the apply). Writes are
   * chained so they land in call order.
   */
  save(hs: HardState | undefined, entries: Entry[]): Promise<void> {
    if (!this.needsSync(hs, entries)) {
      if (hs) this.pendingHs = hs;
      return this.tail;
    }
    let hsWrite: Uint8Array | undefined;
    const start = entries[0]?.index;
    if (hs && (hs.term !== this.durable.term || hs.vote !== this.durable.vote)) {
      // The two writes are not atomic: the commit written must not count on this write's entries.
      const stable = Math.min(this.persistedLast, start === undefined ? Infinity : start - 1);
      hsWrite = enc({ ...hs, commit: Math.min(hs.commit, stable) });
      this.durable = { term: hs.term, vote: hs.vote };
      this.pendingHs = undefined;
    } else if (hs) this.pendingHs = hs;
    const payloads = entries.map((e) => enc(e));
    if (entries.length) this.persistedLast = entries[entries.length - 1]!.index;
    this.tail = this.tail.then(() => {
      const writes: Promise<void>[] = [];
      if (start !== undefined) {
        this.file.write(start, payloads); // replaces the records from start on
        writes.push(this.file.sync());
      }
      if (hsWrite) writes.push(this.db.put('hs', hsWrite, { sync: true }));
      return Promise.all(writes).then(() => undefined);
    });
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
    this.file.reset();
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
    this.file.compactTo(s.index);
  }

  async close(): Promise<void> {
    await this.tail.catch(() => {}); // a failed write has already stopped the node
    // The latest commit index, as a hint for the restart (best effort: the node may have failed).
    if (this.pendingHs) await this.db.put('hs', enc({ ...this.pendingHs, commit: Math.min(this.pendingHs.commit, this.persistedLast) })).catch(() => {});
    this.file.close();
    await this.db.close();
  }
}
