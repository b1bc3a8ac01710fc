import t from 'tap';
import { prefixOf } from '../../shared/chunk-prefix.js';

const s = (pos: number, len: number, block: string, off = 0) => ({ pos, len, block, off });
const B = '00000000001-00000000000000aa', C = '00000000001-00000000000000bb';

t.test('prefixOf: the digest names the first count slices exactly: any field, order or count changes it', async (t) => {
  const list = [s(0, 10, B), s(5, 10, C, 3), s(40, 1, B, 9)];
  const d = prefixOf(list).oldDigest;
  t.equal(prefixOf(list).oldCount, 3);
  t.equal(d.length, 64);
  t.equal(prefixOf([...list, s(1, 1, C)], 3).oldDigest, d, 'later slices do not count');
  for (const other of [
    [s(0, 10, B), s(5, 10, C, 3), s(40, 1, B, 8)], [s(0, 10, B), s(5, 11, C, 3), s(40, 1, B, 9)],
    [s(0, 10, B), s(6, 10, C, 3), s(40, 1, B, 9)], [s(0, 10, C), s(5, 10, C, 3), s(40, 1, B, 9)],
    [s(5, 10, C, 3), s(0, 10, B), s(40, 1, B, 9)], list.slice(0, 2),
  ]) t.not(prefixOf(other).oldDigest, d);
  // Field boundaries are delimited: (pos 1, len 23) and (pos 12, len 3) cannot run together.
  t.not(prefixOf([s(1, 23, B)]).oldDigest, prefixOf([s(12, 3, B)]).oldDigest);
});
