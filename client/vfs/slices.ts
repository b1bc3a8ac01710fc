import { CHUNK_BYTES } from '../../shared/limits.js';
import type { BlockId, Slice } from '../../shared/types.js';

/** A piece of a chunk after overlaying its slices: bytes of a block, or a hole (reads as zeros). */
export interface Segment {
  pos: number; // within the chunk
  len: number;
  src: { block: BlockId; off: number } | null;
}

/**
 * What [from, to) of a chunk holds, given its slices in write order (a later slice hides what earlier
 * ones say about the same bytes). The result covers the range exactly, in order, without overlaps.
 * Pure; O(slices × segments), fine for SLICES_PER_CHUNK_MAX.
 */
export function resolveSlices(slices: readonly Slice[], from: number, to: number): Segment[] {
  let segs: Segment[] = to > from ? [{ pos: from, len: to - from, src: null }] : [];
  for (const s of slices) {
    const a = Math.max(from, s.pos);
    const b = Math.min(to, s.pos + s.len);
    if (a >= b) continue;
    segs = paint(segs, { pos: a, len: b - a, src: { block: s.block, off: s.off + (a - s.pos) } });
  }
  return segs;
}

/** Replaces what `segs` say about the bytes of `top` by `top`. */
function paint(segs: Segment[], top: Segment): Segment[] {
  const out: Segment[] = [];
  const a = top.pos;
  const b = top.pos + top.len;
  let placed = false;
  for (const s of segs) {
    const e = s.pos + s.len;
    if (e <= a || s.pos >= b) {
      if (s.pos >= b && !placed) { out.push(top); placed = true; }
      out.push(s);
      continue;
    }
    if (s.pos < a) out.push(cut(s, s.pos, a));
    if (!placed) { out.push(top); placed = true; }
    if (e > b) out.push(cut(s, b, e));
  }
  if (!placed) out.push(top);
  return out;
}

function cut(s: Segment, a: number, b: number): Segment {
  return { pos: a, len: b - a, src: s.src ? { block: s.src.block, off: s.src.off + (a - s.pos) } : null };
}

/** Splits a file range at chunk boundaries: [{chunk, pos, len, fileOff}]. Offsets may exceed 2^32. */
export function splitByChunk(off: number, len: number): { chunk: number; pos: number; len: number; fileOff: number }[] {
  const out = [];
  let cur = off;
  const end = off + len;
  while (cur < end) {
    const chunk = Math.floor(cur / CHUNK_BYTES);
    const pos = cur - chunk * CHUNK_BYTES;
    const n = Math.min(end - cur, CHUNK_BYTES - pos);
    out.push({ chunk, pos, len: n, fileOff: cur });
    cur += n;
  }
  return out;
}

/** Copies the part of `src` (which holds file bytes from srcOff) that falls in [dstOff, dstOff + dst.length) into dst. */
export function overlayInto(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, srcLen = src.byteLength): void {
  const a = Math.max(dstOff, srcOff);
  const b = Math.min(dstOff + dst.byteLength, srcOff + srcLen);
  if (a >= b) return;
  dst.set(src.subarray(a - srcOff, b - srcOff), a - dstOff);
}
