import { timeToMs } from '../../../shared/time.js';
import { K, tailNumber } from '../keys.js';
import { unpackChunk } from '../chunk-codec.js';
import type { InodeRec } from '../records.js';
import type { Tx } from '../tx.js';

/** Block reference counts: one per slice that names the block; the GC collects blocks at zero. */
export async function addRef(tx: Tx, block: string, delta: number): Promise<void> {
  const n = ((await tx.getVal<number>(K.ref(block))) ?? 0) + delta;
  if (n > 0) tx.putVal(K.ref(block), n);
  else tx.del(K.ref(block));
}

/** One get of n/<ino> (keys.ts): a scan of o/<ino>/ grew with every closed open LevelDB had not compacted yet. */
export async function hasOpens(tx: Tx, ino: number): Promise<boolean> {
  return ((await tx.getVal<number>(K.openCount(ino))) ?? 0) > 0;
}

/** Removes an inode and everything hanging off it: chunks (dropping block refs), xattrs, orphan mark. */
export function deleteInode(tx: Tx, rec: InodeRec): Promise<void> {
  return deleteInodes(tx, [rec]);
}

/**
 * deleteInode for many inodes at once. Each store scan is a LevelDB iterator (a thread-pool round
 * trip and a seek through every level: ~0.3 ms of a node's CPU each, docs/perf-meta.md), so the chunk
 * and xattr keys are scanned once per run of consecutive inode numbers, not twice per inode: inodes
 * created together (a tree, a batch of files) are numbered together and usually retire together.
 * A run's key range holds the keys of that run's inodes only, so nothing else is read or touched.
 * `recs` must name distinct inodes.
 */
export async function deleteInodes(tx: Tx, recs: readonly InodeRec[]): Promise<void> {
  let bytes = 0;
  for (const [first, last] of inoRuns(recs.map((r) => r.ino))) {
    for await (const [key, value] of tx.range({ gte: K.chunkPrefix(first), lt: K.chunkPrefix(last + 1) })) {
      for (const s of unpackChunk(value)) await addRef(tx, s.block, -1);
      tx.del(key);
    }
    for await (const [key] of tx.range({ gte: K.xattrPrefix(first), lt: K.xattrPrefix(last + 1) })) tx.del(key);
  }
  for (const rec of recs) {
    tx.del(K.inode(rec.ino));
    tx.del(K.orphan(rec.ino));
    if (rec.type === 'file') bytes += rec.size;
  }
  if (recs.length) await tx.bumpCounters({ inodes: -recs.length, bytes: -bytes });
}

/** Sorted, distinct inode numbers as [first, last] runs of consecutive numbers. */
export function inoRuns(inos: readonly number[]): [number, number][] {
  const sorted = [...new Set(inos)].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const ino of sorted) {
    const run = runs[runs.length - 1];
    if (run && run[1] + 1 === ino) run[1] = ino;
    else runs.push([ino, ino]);
  }
  return runs;
}

/**
 * After a link count drop: the inode lives on while named; once nameless it lives on as an orphan
 * while some session has it open (POSIX: unlinked files stay readable until the last close), and
 * for a grace period after that (retire).
 */
export async function dropLink(tx: Tx, rec: InodeRec): Promise<void> {
  if (rec.nlink > 0) {
    tx.putInode(rec);
  } else if (await hasOpens(tx, rec.ino)) {
    tx.putInode(rec);
    tx.putVal(K.orphan(rec.ino), 1);
  } else {
    retire(tx, rec);
  }
}

/**
 * A nameless inode nobody has registered open: kept for the grace period, then reaped (reapOrphans).
 * A read-only open returns before its registration commits (it rides on a later entry, docs/decisions.md),
 * so a file unlinked in between must still be there when the registration lands; the grace is what
 * that window may take, failovers included. The space returns when it is reaped.
 */
export function retire(tx: Tx, rec: InodeRec): void {
  tx.putInode(rec);
  tx.putVal(K.orphan(rec.ino), 1);
  tx.putVal(K.reap(timeToMs(tx.now), rec.ino), 1);
}

/** Reaped per entry at most, so that one entry stays small whatever piled up. */
export const REAP_BATCH_MAX = 256;

/**
 * Deletes the inodes retired before `beforeMs` that are still nameless and unopened (an open
 * registered meanwhile keeps one: its last release retires it again). `more`: some are left.
 */
export async function reapOrphans(tx: Tx, beforeMs: number): Promise<{ reaped: number; more: boolean }> {
  const due = new Map<number, InodeRec>(); // an inode retired twice (reopened, closed again) has two keys
  let seen = 0, more = false;
  for await (const [key] of tx.range({ gte: K.reapPrefix(), lt: K.reap(beforeMs, 0) })) {
    if (seen++ === REAP_BATCH_MAX) {
      more = true;
      break;
    }
    tx.del(key);
    const rec = await tx.getInode(tailNumber(key));
    if (rec && rec.nlink === 0 && !(await hasOpens(tx, rec.ino))) due.set(rec.ino, rec);
  }
  await deleteInodes(tx, [...due.values()]);
  return { reaped: due.size, more };
}
