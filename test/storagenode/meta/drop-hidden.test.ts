import t from 'tap';
import { CHUNK_BYTES, SLICES_PER_CHUNK_MAX } from '../../../shared/limits.js';
import type { Slice } from '../../../shared/types.js';
import { dropHidden } from '../../../storagenode/meta/ops/data.js';
import { rng } from '../../helpers/rng.js';

/** The dumb oracle: a slice is hidden if the slices after it cover every byte of it (byte by byte). */
function hiddenByBytes(slices: readonly Slice[]): boolean[] {
  const seen = new Set<number>();
  const hidden: boolean[] = new Array(slices.length);
  for (let i = slices.length - 1; i >= 0; i--) {
    const s = slices[i]!;
    let all = true;
    for (let p = s.pos; p < s.pos + s.len; p++) if (!seen.has(p)) { all = false; break; }
    hidden[i] = all;
    for (let p = s.pos; p < s.pos + s.len; p++) seen.add(p);
  }
  return hidden;
}

const block = (i: number) => `00000000001-${i.toString(16).padStart(16, '0')}`;

t.test('dropHidden: drops exactly the slices later ones cover completely, keeps the rest in order (random layouts, seeded)', async (t) => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = rng(seed);
    const span = 1 + Math.floor(r() * 400);
    const slices: Slice[] = Array.from({ length: Math.floor(r() * 50) }, (_, i) => {
      const pos = Math.floor(r() * span);
      return { pos, len: 1 + Math.floor(r() * (r() < 0.2 ? span : 20)), block: block(i), off: 0 };
    });
    const hidden = hiddenByBytes(slices);
    const { kept, dropped } = dropHidden(slices);
    const wantKept = slices.filter((_, i) => !hidden[i]);
    if (JSON.stringify(kept) !== JSON.stringify(wantKept) || dropped.length !== slices.length - wantKept.length) {
      t.same(kept, wantKept, `SEED=${seed}`);
      return;
    }
  }
  t.pass('300 seeds agree');
});

t.test('dropHidden: a full chunk of scattered 4 KiB slices takes under 200 ms (it runs on every replica; re-sorting took ~450)', async (t) => {
  const r = rng(3);
  const slices: Slice[] = Array.from({ length: SLICES_PER_CHUNK_MAX + 256 }, (_, i) => ({ pos: Math.floor(r() * (CHUNK_BYTES / 4096)) * 4096, len: 4096, block: block(i), off: 0 }));
  const t0 = process.hrtime.bigint();
  const { kept, dropped } = dropHidden(slices);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.equal(kept.length + dropped.length, slices.length);
  t.ok(ms < 200, `${ms.toFixed(1)} ms`);
});
