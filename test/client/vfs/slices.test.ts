import t from 'tap';
import { CHUNK_BYTES, SLICES_PER_CHUNK_MAX } from '../../../shared/limits.js';
import type { Slice } from '../../../shared/types.js';
import { resolveSlices, type Segment } from '../../../client/vfs/slices.js';
import { rng } from '../../helpers/rng.js';

/** The dumb oracle: paint each slice, oldest first, over the segments so far (the O(n²) original). */
function paintAll(slices: readonly Slice[], from: number, to: number): Segment[] {
  let segs: Segment[] = to > from ? [{ pos: from, len: to - from, src: null }] : [];
  const cut = (s: Segment, a: number, b: number): Segment => ({ pos: a, len: b - a, src: s.src ? { block: s.src.block, off: s.src.off + (a - s.pos) } : null });
  for (const s of slices) {
    const a = Math.max(from, s.pos), b = Math.min(to, s.pos + s.len);
    if (a >= b) continue;
    const top: Segment = { pos: a, len: b - a, src: { block: s.block, off: s.off + (a - s.pos) } };
    const out: Segment[] = [];
    let placed = false;
    for (const g of segs) {
      const e = g.pos + g.len;
      if (e <= a || g.pos >= b) {
        if (g.pos >= b && !placed) { out.push(top); placed = true; }
        out.push(g);
        continue;
      }
      if (g.pos < a) out.push(cut(g, g.pos, a));
      if (!placed) { out.push(top); placed = true; }
      if (e > b) out.push(cut(g, b, e));
    }
    if (!placed) out.push(top);
    segs = out;
  }
  return segs;
}

const block = (i: number) => `00000000001-${i.toString(16).padStart(16, '0')}`;

t.test('resolveSlices: the same segments as painting slices in write order (random layouts, seeded)', async (t) => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = rng(seed);
    const span = 1 + Math.floor(r() * 5000);
    const n = Math.floor(r() * 60);
    const slices: Slice[] = Array.from({ length: n }, (_, i) => {
      const pos = Math.floor(r() * span), len = 1 + Math.floor(r() * (r() < 0.2 ? span : 64));
      // Shared blocks and equal edges on purpose: neighbours of one block must stay separate segments.
      return { pos, len, block: block(r() < 0.3 ? 0 : i), off: Math.floor(r() * 100) };
    });
    const from = Math.floor(r() * span / 2), to = from + Math.floor(r() * span);
    const got = resolveSlices(slices, from, to), want = paintAll(slices, from, to);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      t.same(got, want, `SEED=${seed}`);
      return;
    }
  }
  t.pass('300 seeds agree');
});

t.test('resolveSlices: empty and inverted ranges, holes, a slice hiding another completely', async (t) => {
  t.same(resolveSlices([{ pos: 0, len: 10, block: block(1), off: 0 }], 5, 5), []);
  t.same(resolveSlices([], 0, 10), [{ pos: 0, len: 10, src: null }]);
  const s = [{ pos: 0, len: 10, block: block(1), off: 0 }, { pos: 2, len: 3, block: block(2), off: 7 }, { pos: 0, len: 10, block: block(3), off: 0 }];
  t.same(resolveSlices(s.slice(0, 2), 0, 12), [
    { pos: 0, len: 2, src: { block: block(1), off: 0 } }, { pos: 2, len: 3, src: { block: block(2), off: 7 } },
    { pos: 5, len: 5, src: { block: block(1), off: 5 } }, { pos: 10, len: 2, src: null },
  ]);
  t.same(resolveSlices(s, 0, 10), [{ pos: 0, len: 10, src: { block: block(3), off: 0 } }]);
});

t.test('resolveSlices: a full chunk (SLICES_PER_CHUNK_MAX random 4 KiB slices over 16 blocks) resolves in well under a second', async (t) => {
  const r = rng(7);
  const slices: Slice[] = Array.from({ length: 16 }, (_, i) => ({ pos: i * 4 * 1024 * 1024, len: 4 * 1024 * 1024, block: block(i), off: 0 }));
  while (slices.length < SLICES_PER_CHUNK_MAX) slices.push({ pos: Math.floor(r() * (CHUNK_BYTES / 4096)) * 4096, len: 4096, block: block(slices.length), off: 0 });
  const t0 = process.hrtime.bigint();
  const segs = resolveSlices(slices, 0, CHUNK_BYTES);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.equal(segs.reduce((n, g) => n + g.len, 0), CHUNK_BYTES, 'covers the chunk');
  t.ok(ms < 1000, `${ms.toFixed(1)} ms`);
});
