import t from 'tap';
import { randomBytes } from 'node:crypto';
import { BlockCache, CACHE_UNIT_BYTES } from '../../../client/vfs/block-cache.js';

const MIB = 1024 * 1024;

t.test('block cache: what it keeps alive stays within the budget, not only what it counts', async (t) => {
  const budget = 8 * CACHE_UNIT_BYTES;
  const c = new BlockCache(budget, CACHE_UNIT_BYTES);
  const data = randomBytes(4 * MIB);
  // Each fetch returns a buffer of its own, as a reply frame is.
  const fetch = (id: string) => async (off: number, len: number) => Uint8Array.from(data.subarray(off, off + len));
  const read = async (id: string, off: number, len: number) => {
    const out = Buffer.alloc(len);
    await c.read(id, off, out, 0, data.length, fetch(id));
    t.same(out, data.subarray(off, off + len));
  };
  // A sequential reader fetches 4 units at once (one buffer); the first piece of each of the last 4
  // fetches is hot (hit again every round), so it outlives the rest of its fetch.
  for (let i = 0; i < 16; i++) {
    await read(`s${i}`, 0, 4 * CACHE_UNIT_BYTES);
    for (let j = Math.max(0, i - 3); j <= i; j++) await read(`s${j}`, 10, 100);
    t.ok(c.bytes <= budget, `${c.bytes} bytes counted`);
    // Each hot piece must not keep its 4-unit buffer alive (4 of them would be twice the budget).
    t.ok(c.retainedBytes() <= budget + 4 * CACHE_UNIT_BYTES, `after fetch ${i}: ${c.retainedBytes()} bytes kept alive (budget ${budget}, plus one fetch being evicted)`);
  }
  // A small reply that is a view of a bigger buffer (a socket read) is copied, not kept with it.
  const c2 = new BlockCache(budget, CACHE_UNIT_BYTES);
  const big = new Uint8Array(MIB);
  big.set(data.subarray(0, 100), 5000);
  await c2.read('small', 0, Buffer.alloc(100), 0, 100, async () => big.subarray(5000, 5100));
  t.equal(c2.retainedBytes(), 100);
});
