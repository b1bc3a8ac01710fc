import { K } from '../keys.js';
import { unpack, type ChunkRec, type InodeRec } from '../records.js';
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
    for (const s of unpack<ChunkRec>(value)) await addRef(tx, s.block, -1);
    tx.del(key);
  }
  for await (const [key] of tx.prefix(K.xattrPrefix(rec.ino))) tx.del(key);
  tx.del(K.inode(rec.ino));
  tx.del(K.orphan(rec.ino));
  await tx.bumpCounters({ inodes: -1, bytes: rec.type === 'file' ? -rec.size : 0 });
}

/**
 * After a link count drop: the inode lives on while named; once nameless it lives on as an orphan
 * while some session has it open (POSIX: unlinked files stay readable until the last close).
 */
export async function dropLink(tx: Tx, rec: InodeRec): Promise<void> {
  if (rec.nlink > 0) {
    tx.putInode(rec);
  } else if (await hasOpens(tx, rec.ino)) {
    tx.putInode(rec);
    tx.putVal(K.orphan(rec.ino), 1);
  } else {
    await deleteInode(tx, rec);
  }
}
