import { assert } from '../../shared/assert.js';
import type { NodeInfo } from '../../shared/types.js';
import type { Entry, SnapshotMeta } from './types.js';

/**
 * The in-memory Raft log: a snapshot point followed by entries snap.index+1 .. lastIndex.
 * `stabled` is the last index known to be on disk (the driver acknowledges through advance),
 * `committed` the last index known committed, `applied` the last index the state machine applied.
 * Configuration entries take effect as soon as they are in the log (dissertation §4.1), so the log
 * also answers "which membership is in force at index i".
 */
export class RaftLog {
  snap: SnapshotMeta;
  entries: Entry[] = [];
  committed: number;
  applied: number;
  stabled: number;
  /** Indexes of configuration entries still in the log, ascending. */
  private confIndexes: number[] = [];

  constructor(snap: SnapshotMeta, entries: Entry[], committed: number, applied: number) {
    this.snap = snap;
    for (const e of entries) this.push(e);
    this.stabled = this.lastIndex();
    this.committed = Math.max(committed, snap.index);
    this.applied = Math.max(applied, snap.index);
    assert(this.committed <= this.lastIndex(), `commit ${this.committed} past last index ${this.lastIndex()}`);
    assert(this.applied <= this.committed, `applied ${this.applied} past commit ${this.committed}`);
  }

  firstIndex(): number {
    return this.snap.index + 1;
  }
  lastIndex(): number {
    return this.snap.index + this.entries.length;
  }
  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }
  /** undefined when i is compacted away or past the end. */
  term(i: number): number | undefined {
    if (i === this.snap.index) return this.snap.term;
    if (i < this.snap.index || i > this.lastIndex()) return undefined;
    return this.entries[i - this.snap.index - 1]!.term;
  }
  entry(i: number): Entry | undefined {
    if (i <= this.snap.index || i > this.lastIndex()) return undefined;
    return this.entries[i - this.snap.index - 1];
  }
  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const t = this.lastTerm();
    return lastTerm > t || (lastTerm === t && lastIndex >= this.lastIndex());
  }

  /** The membership in force once the log is `upTo` long (the last configuration entry at or before it). */
  configAt(upTo: number): NodeInfo[] {
    for (let k = this.confIndexes.length - 1; k >= 0; k--) {
      const i = this.confIndexes[k]!;
      if (i <= upTo) return this.entry(i)!.members!;
    }
    return this.snap.members;
  }
  config(): NodeInfo[] {
    return this.configAt(this.lastIndex());
  }
  lastConfIndex(): number {
    return this.confIndexes.length ? this.confIndexes[this.confIndexes.length - 1]! : this.snap.index;
  }

  /** The leader appends its own entries; they must directly follow the log. */
  append(e: Entry): void {
    assert(e.index === this.lastIndex() + 1, `append of ${e.index} after ${this.lastIndex()}`);
    this.push(e);
  }

  /**
   * The follower side of AppendEntries (§5.3): if our log holds prevIndex at prevTerm, drop the first
   * conflicting entry and everything after it, append what is new, and return the last index the
   * message vouches for. Entries that already match are left alone, so a stale or reordered message
   * never truncates entries a newer one delivered. null when prevIndex/prevTerm do not match.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, ents: Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + ents.length;
    let k = 0;
    while (k < ents.length && this.matchTerm(ents[k]!.index, ents[k]!.term)) k++;
    if (k < ents.length) {
      const from = ents[k]!.index;
      // A committed entry never conflicts (Leader Completeness, §5.4); a conflict there is a bug.
      assert(from > this.committed, `conflict at ${from} at or below commit ${this.committed}`);
      this.truncateFrom(from);
      for (; k < ents.length; k++) this.push(ents[k]!);
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /**
   * Fast backtracking: the largest index <= index whose term is <= term, with that term. Term 0 means
   * "unknown here" (compacted), which the caller treats as a possible match.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i > 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  commitTo(i: number): boolean {
    if (i <= this.committed) return false;
    assert(i <= this.lastIndex(), `commit ${i} past last index ${this.lastIndex()}`);
    this.committed = i;
    return true;
  }

  /** Entries lo..hi-1 limited by count and bytes; always at least one entry when lo < hi. */
  slice(lo: number, hi: number, countMax: number, bytesMax: number): Entry[] {
    assert(lo > this.snap.index, `slice from compacted ${lo}`);
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi && out.length < countMax; i++) {
      const e = this.entry(i)!;
      size += e.data.byteLength;
      if (out.length > 0 && size > bytesMax) break;
      out.push(e);
    }
    return out;
  }

  /** Drops entries up to `index`, which the state machine's image (or an older one) covers. */
  compact(index: number): void {
    if (index <= this.snap.index) return;
    assert(index <= this.applied, `compact ${index} past applied ${this.applied}`);
    const members = this.configAt(index);
    const term = this.term(index)!;
    this.entries = this.entries.slice(index - this.snap.index);
    this.snap = { index, term, members };
    this.confIndexes = this.confIndexes.filter((i) => i > index);
  }

  /** Replaces the whole log with a snapshot received from the leader (§7). */
  restore(s: SnapshotMeta): void {
    this.snap = s;
    this.entries = [];
    this.confIndexes = [];
    this.committed = s.index;
    this.applied = s.index;
    this.stabled = s.index;
  }

  private push(e: Entry): void {
    this.entries.push(e);
    if (e.type === 'conf') this.confIndexes.push(e.index);
  }
  private truncateFrom(i: number): void {
    this.entries.length = i - this.snap.index - 1;
    while (this.confIndexes.length && this.confIndexes[this.confIndexes.length - 1]! >= i) this.confIndexes.pop();
    this.stabled = Math.min(this.stabled, i - 1);
  }
}
