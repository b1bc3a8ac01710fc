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
export async function deleteInode(tx: Tx, rec: InodeRec): Promise<void> {
  for await (const [key, value] of tx.prefix(K.chunkPrefix(rec.ino))) {
    for (const s of unpackChunk(value)) await addRef(tx, s.block, -1);
    tx.del(key);
  }
  for await (const [key] of tx.prefix(K.xattrPrefix(rec.ino))) tx.del(key);
  tx.del(K.inode(rec.ino));
  tx.del(K.orphan(rec.ino));
  await tx.bumpCounters({ inodes: -1, bytes: rec.type === 'file' ? -rec.size : 0 });
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
  let reaped = 0;
  let seen = 0;
  for await (const [key] of tx.range({ gte: K.reapPrefix(), lt: K.reap(beforeMs, 0) })) {
    if (seen++ === REAP_BATCH_MAX) return { reaped, more: true };
    tx.del(key);
    const rec = await tx.getInode(tailNumber(key));
    if (rec && rec.nlink === 0 && !(await hasOpens(tx, rec.ino))) {
      await deleteInode(tx, rec);
      reaped++;
    }
  }
  return { reaped, more: false };
}
