import { blockIdTimeMs } from '../../../shared/block-id.js';
import { prefixOf } from '../../../shared/chunk-prefix.js';
import { fail, ok, type Errno } from '../../../shared/errno.js';
import { BLOCK_BYTES_MAX, BLOCK_COMMIT_AGE_MS_MAX, CHUNK_BYTES } from '../../../shared/limits.js';
import type { OpArgs, OpResults } from '../../../shared/protocol/ops.js';
import { timeToMs } from '../../../shared/time.js';
import type { Slice } from '../../../shared/types.js';
import { K } from '../keys.js';
import { toAttr } from '../records.js';
import type { Tx } from '../tx.js';
import { chunkChanged } from './alloc.js';
import { loadInode, type Res } from './common.js';
import { addRef } from './lifecycle.js';

/** The chunk still starts with exactly the slices the compactor read (later commits may follow them). */
export function startsWith(list: readonly Slice[], count: number, digest: string): boolean {
  return count <= list.length && prefixOf(list, count).oldDigest === digest;
}

/**
 * New slices must be well formed, name young blocks (as commitWrite's), and stay inside the bytes
 * the replaced slices spanned: a compaction rewrites what was there, it never writes elsewhere.
 */
function checkNew(slices: readonly Slice[], old: readonly Slice[], nowMs: number): Errno | undefined {
  const from = Math.min(...old.map((s) => s.pos));
  const to = Math.max(...old.map((s) => s.pos + s.len));
  for (const s of slices) {
    if (s.len < 1 || s.pos + s.len > CHUNK_BYTES || s.off + s.len > BLOCK_BYTES_MAX) return 'EINVAL';
    if (nowMs - blockIdTimeMs(s.block) > BLOCK_COMMIT_AGE_MS_MAX) return 'EINVAL';
    if (s.pos < from || s.pos + s.len > to) return 'EINVAL';
  }
  return undefined;
}

/**
 * compactChunk (JuiceFS-style compaction, docs in storagenode/meta/README.md): replaces the first
 * `oldCount` slices of a chunk, which must digest to `oldDigest` (what the client read), by `slices`,
 * new blocks holding the same visible bytes. Slices committed after the read stay on top, so writes
 * racing the compaction are kept; any other change to those first slices (a truncate trimming them,
 * the EFBIG merge dropping some, another compaction) makes it EAGAIN and the client drops its
 * blocks. Block references move in the same batch. Not a write: size, mtime and ctime stay; the
 * version moves, because the chunk's layout changed and cached layouts name blocks that the
 * collector may now delete.
 */
export async function compactChunk(tx: Tx, a: OpArgs<'compactChunk'>): Res<OpResults['compactChunk']> {
  const r = await loadInode(tx, a.ino);
  if (!r.ok) return r;
  const rec = r.value;
  if (rec.type === 'dir') return fail('EISDIR');
  if (rec.type !== 'file') return fail('EINVAL');
  const key = K.chunk(rec.ino, a.chunk);
  const before = await tx.getChunk(key);
  if (!startsWith(before, a.oldCount, a.oldDigest)) return fail('EAGAIN');
  // The replaced slices are the chunk's own (proven by the digest), not the client's word.
  const old = before.slice(0, a.oldCount);
  const bad = checkNew(a.slices, old, timeToMs(tx.now));
  if (bad) return fail(bad);
  const slices = a.slices.map((s) => ({ pos: s.pos, len: s.len, block: s.block, off: s.off }));
  const after = [...slices, ...before.slice(a.oldCount)];
  for (const s of slices) await addRef(tx, s.block, 1);
  for (const s of old) await addRef(tx, s.block, -1);
  await chunkChanged(tx, rec, before, after);
  tx.putChunk(key, after);
  rec.version++;
  tx.putInode(rec);
  return ok(toAttr(rec));
}
