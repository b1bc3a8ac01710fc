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
 * ones say about the same bytes). The result covers the range exactly, in order, without overlaps;
 * each segment is a maximal run of one slice (or of hole). Pure.
 *
 * A sweep over the slices' edges in position order, with the newest slice covering the current
 * position on top of a max-heap: O(n log n) in the slices that touch the range. Painting each slice
 * over the segments so far was O(n²), and planning a compaction of a chunk with 4096 slices resolves
 * all of them.
 */
export function resolveSlices(slices: readonly Slice[], from: number, to: number): Segment[] {
  if (to <= from) return [];
  const edges: number[] = []; // slice index i: starts at 2i, ends at 2i + 1 (positions in `at`)
  const at: number[] = new Array(slices.length * 2);
  for (let i = 0; i < slices.length; i++) {
    const s = slices[i]!;
    const a = Math.max(from, s.pos), b = Math.min(to, s.pos + s.len);
    if (a >= b) continue;
    at[2 * i] = a;
    at[2 * i + 1] = b;
    edges.push(2 * i, 2 * i + 1);
  }
  edges.sort((x, y) => at[x]! - at[y]! || x - y);
  const heap = new MaxHeap();
  const ended = new Uint8Array(slices.length);
  const segs: Segment[] = [];
  let pos = from, top = -1; // top: the slice on top since `pos` (-1: a hole)
  const emit = (end: number) => {
    if (end <= pos) return;
    const s = top < 0 ? null : slices[top]!;
    segs.push({ pos, len: end - pos, src: s ? { block: s.block, off: s.off + (pos - s.pos) } : null });
    pos = end;
  };
  for (let k = 0; k < edges.length;) {
    const x = at[edges[k]!]!;
    for (; k < edges.length && at[edges[k]!] === x; k++) {
      const e = edges[k]!;
      if (e % 2 === 0) heap.push(e / 2);
      else ended[(e - 1) / 2] = 1;
    }
    while (heap.size && ended[heap.peek()]) heap.pop();
    const next = heap.size ? heap.peek() : -1;
    if (next !== top) {
      emit(x);
      top = next;
    }
  }
  emit(to);
  return segs;
}

/** A binary max-heap of slice indices (the newest slice is the largest index). */
class MaxHeap {
  private readonly a: number[] = [];
  get size(): number { return this.a.length; }
  peek(): number { return this.a[0]!; }
  push(v: number): void {
    const a = this.a;
    let i = a.push(v) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! >= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): void {
    const a = this.a;
    const last = a.pop()!;
    if (!a.length) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i, mv = last;
      if (l < a.length && a[l]! > mv) { m = l; mv = a[l]!; }
      if (r < a.length && a[r]! > mv) { m = r; mv = a[r]!; }
      if (m === i) break;
      a[i] = mv;
      i = m;
    }
    a[i] = last;
  }
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
