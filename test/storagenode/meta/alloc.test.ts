import t from 'tap';
import type { Slice } from '../../../shared/types.js';
import { coveredBytes, newlyCovered } from '../../../storagenode/meta/ops/alloc.js';
import { rng } from '../../helpers/rng.js';

const block = (i: number) => `00000000001-${i.toString(16).padStart(16, '0')}`;

/** The dumb oracle: bytes of `add` not in `before`, byte by byte. */
function newBytes(before: readonly Slice[], add: readonly Slice[]): number {
  const had = new Set<number>();
  for (const s of before) for (let p = s.pos; p < s.pos + s.len; p++) had.add(p);
  const fresh = new Set<number>();
  for (const s of add) for (let p = s.pos; p < s.pos + s.len; p++) if (!had.has(p)) fresh.add(p);
  return fresh.size;
}

t.test('newlyCovered: the bytes appended slices add to a chunk, as the byte oracle and the full recount say (random layouts, seeded)', async (t) => {
  let checked = 0;
  for (let seed = 1; seed <= 500; seed++) {
    const r = rng(seed);
    const span = 1 + Math.floor(r() * 2000);
    const slice = (i: number): Slice => {
      const pos = Math.floor(r() * span);
      return { pos, len: r() < 0.02 ? 0 : 1 + Math.floor(r() * (r() < 0.2 ? span : 40)), block: block(i), off: 0 };
    };
    const before = Array.from({ length: Math.floor(r() * 300) }, (_, i) => slice(i));
    const add = Array.from({ length: Math.floor(r() * 20) }, (_, i) => slice(1000 + i));
    const got = newlyCovered(before, add);
    const want = newBytes(before, add);
    if (got !== want) t.fail(`seed ${seed}: ${got} new bytes, the oracle says ${want}`);
    if (got !== coveredBytes([...before, ...add]) - coveredBytes(before)) t.fail(`seed ${seed}: differs from the full recount`);
    checked++;
  }
  t.equal(checked, 500, 'every layout agreed');
});

t.test('newlyCovered: edges (nothing added, touching, inside, around, identical)', async (t) => {
  const s = (pos: number, len: number): Slice => ({ pos, len, block: block(pos), off: 0 });
  t.equal(newlyCovered([s(0, 10)], []), 0, 'nothing added');
  t.equal(newlyCovered([], [s(5, 10), s(8, 4)]), 10, 'into an empty chunk, overlaps counted once');
  t.equal(newlyCovered([s(0, 10)], [s(10, 5)]), 5, 'touching the end');
  t.equal(newlyCovered([s(0, 10)], [s(2, 3)]), 0, 'inside');
  t.equal(newlyCovered([s(5, 2)], [s(0, 10)]), 8, 'around');
  t.equal(newlyCovered([s(0, 4), s(6, 4)], [s(0, 10)]), 2, 'fills the hole between two');
  t.equal(newlyCovered([s(3, 4)], [s(3, 4)]), 0, 'identical');
});
