import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Kv } from '../../../storagenode/meta/kv.js';
import { prefixRange } from '../../../storagenode/meta/kv.js';
import { CachedKv } from '../../../storagenode/meta/cached-kv.js';
import { LevelKv } from '../../../storagenode/meta/level-kv.js';
import { MemKv } from '../../../storagenode/meta/mem-kv.js';
import { Tx } from '../../../storagenode/meta/tx.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const keysOf = async (it: AsyncIterable<[Buffer, Buffer]>) => {
  const out: string[] = [];
  for await (const [k] of it) out.push(k.toString('latin1'));
  return out;
};

const engines: [string, () => Promise<{ kv: Kv; done: () => Promise<void> }>][] = [
  ['memory', async () => ({ kv: new MemKv(), done: async () => {} })],
  ['leveldb', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidefs-kv-'));
    const kv = await LevelKv.open(dir);
    return { kv, done: async () => { await kv.close(); rmSync(dir, { recursive: true, force: true }); } };
  }],
  // A tiny cache, so the suite also runs through its generation rotation.
  ['cached memory', async () => ({ kv: new CachedKv(new MemKv(), 4), done: async () => {} })],
];

t.test('cached: a deleted key reads as absent even while an older generation still holds its value', async (t) => {
  const store = new MemKv();
  const kv = new CachedKv(store, 8);
  await kv.write([{ type: 'put', key: b('k'), value: b('v1') }]);
  for (let i = 0; i < 4; i++) await kv.write([{ type: 'put', key: b(`f${i}`), value: b('x') }]); // rotates: k is old
  await kv.write([{ type: 'del', key: b('k') }]);
  t.equal(await kv.get(b('k')), undefined);
  await kv.write([{ type: 'put', key: b('k'), value: b('v2') }]);
  for (let i = 0; i < 8; i++) t.equal((await kv.get(b(`f${i % 4}`)))?.toString(), 'x');
  t.equal((await kv.get(b('k')))?.toString(), 'v2');
  t.equal((await store.get(b('k')))?.toString(), 'v2', 'writes go through to the store');
  await kv.clear({});
  t.equal(await kv.get(b('k')), undefined, 'clear forgets cached values');
});

t.test('cached: big values are bounded by bytes, not only by entries (chunk records of many slices)', async (t) => {
  const store = new MemKv();
  const kv = new CachedKv(store, 1024, 1000);
  for (let i = 0; i < 50; i++) await kv.write([{ type: 'put', key: b(`c${i}`), value: Buffer.alloc(300, i) }]);
  t.ok(kv.heldBytes() <= 1000 + 300, `${kv.heldBytes()} bytes held for a budget of 1000 (50 values of 300 put)`);
  t.equal((await kv.get(b('c3')))?.[0], 3, 'an evicted value is read from the store');
  t.equal((await kv.get(b('c49')))?.[0], 49);
});

for (const [name, make] of engines) {
  t.test(`${name}: orders keys by bytes, ranges by prefix, limits and bounds`, async (t) => {
    const { kv, done } = await make();
    t.teardown(done);
    await kv.write(['a/2', 'a/10', 'a/1', 'b/1', 'a/\xff', 'a0'].map((k) => ({ type: 'put' as const, key: b(k), value: b('v' + k) })));
    t.same(await keysOf(kv.range(prefixRange(b('a/')))), ['a/1', 'a/10', 'a/2', 'a/\xff']);
    t.same(await keysOf(kv.range({ gt: b('a/10'), lt: b('b'), limit: 2 })), ['a/2', 'a/\xff']);
    t.equal((await kv.get(b('a/2')))?.toString('latin1'), 'va/2');
    t.equal(await kv.get(b('zz')), undefined);
  });

  t.test(`${name}: a batch applies puts and deletes together; a snapshot does not see later writes`, async (t) => {
    const { kv, done } = await make();
    t.teardown(done);
    await kv.write([{ type: 'put', key: b('x'), value: b('1') }, { type: 'put', key: b('y'), value: b('2') }]);
    const snap = kv.snapshot();
    await kv.write([{ type: 'del', key: b('x') }, { type: 'put', key: b('z'), value: b('3') }]);
    t.same(await keysOf(kv.range({})), ['y', 'z']);
    t.same(await keysOf(snap.range({})), ['x', 'y']);
    t.equal((await snap.get(b('x')))?.toString(), '1');
    await snap.close();
    await kv.clear({ gte: b('y'), lt: b('z') });
    t.same(await keysOf(kv.range({})), ['z']);
  });
}

t.test('a transaction reads its own writes merged in key order over the store', async (t) => {
  const kv = new MemKv();
  await kv.write(['p/a', 'p/c', 'p/e'].map((k) => ({ type: 'put' as const, key: b(k), value: b('1') })));
  const tx = new Tx(kv, [0, 0], 1);
  tx.put(b('p/b'), b('2'));
  tx.del(b('p/c'));
  tx.put(b('p/f'), b('2'));
  t.same(await keysOf(tx.prefix(b('p/'))), ['p/a', 'p/b', 'p/e', 'p/f']);
  t.same(await keysOf(tx.prefix(b('p/'), 2)), ['p/a', 'p/b']);
  tx.del(b('p/a'));
  t.same(await keysOf(tx.prefix(b('p/'), 1)), ['p/b']);
  t.equal(await tx.get(b('p/c')), undefined);
  tx.mark();
  tx.put(b('p/z'), b('9'));
  tx.rollback();
  t.equal(await tx.get(b('p/z')), undefined);
});
