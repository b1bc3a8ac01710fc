import type { Slice } from '../../../shared/types.js';
import { K } from '../keys.js';
import { unpack, type ChunkRec, type InodeRec } from '../records.js';
import type { Tx } from '../tx.js';

/**
 * Allocated bytes (st_blocks): per chunk, the length of the union of its slices' ranges, summed over
 * the file's chunks and kept in the inode record as `alloc`. Overlapping slices count once, holes not
 * at all, so a file with one byte at 5 GiB has 1 byte allocated, as `du` expects of a sparse file.
 * It counts committed bytes, not replicas or block padding; it never exceeds the size, because
 * truncate trims slices at the cut and commits grow the size to their end.
 */
export function coveredBytes(slices: readonly Slice[]): number {
  const spans = slices.map((s) => [s.pos, s.pos + s.len] as const).sort((a, b) => a[0] - b[0]);
  let total = 0, start = -1, end = -1;
  for (const [a, b] of spans) {
    if (a > end) {
      total += end - start;
      start = a;
      end = b;
    } else if (b > end) {
      end = b;
    }
  }
  return total + (end - start);
}

/**
 * The inode's `alloc`, computed from all its chunks when the record predates the field (records
 * written before it have none; the client then reports st_blocks from the size).
 */
export async function ensureAlloc(tx: Tx, rec: InodeRec): Promise<number> {
  if (rec.alloc !== undefined) return rec.alloc;
  let total = 0;
  for await (const [, value] of tx.prefix(K.chunkPrefix(rec.ino))) total += coveredBytes(unpack<ChunkRec>(value));
  rec.alloc = total;
  return total;
}

/** One chunk's slices went from `before` to `after`: move the inode's allocated bytes with it. */
export async function chunkChanged(tx: Tx, rec: InodeRec, before: readonly Slice[], after: readonly Slice[]): Promise<void> {
  const base = await ensureAlloc(tx, rec);
  rec.alloc = Math.max(0, base + coveredBytes(after) - coveredBytes(before));
}
