import t from 'tap';
import { COMMIT_SLICES_MAX } from '../../../shared/limits.js';
import { COMMIT_GROUP_CHUNK_SLICES_MAX } from '../../../client/vfs/compact.js';
import { commitGroups } from '../../../client/vfs/writer.js';

const slices = (chunks: number[]) => chunks.map((chunk, i) => ({ chunk, i }));

t.test('random writes over many chunks go in full commits; one chunk never gets more than its share', async (t) => {
  // 4096 slices spread over 16 chunks, as random 4 KiB writes over a 1 GiB file.
  const spread = slices(Array.from({ length: 4096 }, (_, i) => (i * 7) % 16));
  const groups = commitGroups(spread);
  t.same(groups.map((g) => g.length), [1024, 1024, 1024, 1024], 'four commits of COMMIT_SLICES_MAX, not sixteen of 256');
  t.equal(COMMIT_SLICES_MAX, 1024);
  t.same(groups.flat().map((s) => s.i), spread.map((s) => s.i), 'write order kept across groups');
});

t.test('a writer in one chunk commits at most COMMIT_GROUP_CHUNK_SLICES_MAX slices at a time', async (t) => {
  const one = slices(Array.from({ length: 600 }, () => 3));
  t.same(commitGroups(one).map((g) => g.length), [COMMIT_GROUP_CHUNK_SLICES_MAX, COMMIT_GROUP_CHUNK_SLICES_MAX, 600 - 2 * COMMIT_GROUP_CHUNK_SLICES_MAX]);
  // Two chunks, the second's share full first: the group ends there, whatever the first holds.
  const mixed = slices([...Array.from({ length: 10 }, () => 0), ...Array.from({ length: 300 }, () => 1), 0]);
  const groups = commitGroups(mixed);
  t.same(groups.map((g) => g.length), [10 + COMMIT_GROUP_CHUNK_SLICES_MAX, 300 - COMMIT_GROUP_CHUNK_SLICES_MAX + 1]);
  for (const g of groups) {
    const per = new Map<number, number>();
    for (const s of g) per.set(s.chunk, (per.get(s.chunk) ?? 0) + 1);
    t.ok(Math.max(...per.values()) <= COMMIT_GROUP_CHUNK_SLICES_MAX && g.length <= COMMIT_SLICES_MAX);
  }
  t.same(commitGroups([]), [], 'nothing to commit: no group');
});
