import t from 'tap';
import { makeBlockId } from '../../../shared/block-id.js';
import { BlockConflictError, BlockCorruptError, BlockStoreClosedError } from '../../../storagenode/blocks/block-store.js';
import { InjectedFaultError, MemBlockStore } from '../../../storagenode/blocks/mem-store.js';

let seq = 0;
const id = () => makeBlockId(1_700_000_000_000, (++seq).toString(16).padStart(16, '0'));
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

t.test('mem-store: put, ranged get, has, delete, list and stats behave like the LevelDB store', async (t) => {
  const s = new MemBlockStore({ now: () => 5 });
  const a = id(), b = id();
  await s.put(a, bytes(100));
  await s.put(b, bytes(50));
  await s.put(a, bytes(100)); // idempotent
  t.same(await s.get(a, 10, 5), bytes(100).slice(10, 15));
  t.equal(await s.get(id()), null);
  t.same(await s.list({ limit: 1 }), [{ id: a, size: 100, storedAtMs: 5 }]);
  t.same(await s.list({ after: a }), [{ id: b, size: 50, storedAtMs: 5 }]);
  await t.rejects(s.put(a, bytes(100, 2)), BlockConflictError);
  await s.delete([a, id()]);
  t.equal(await s.has(a), false);
  t.same(s.stats(), { count: 1, bytes: 50 });
});

t.test('mem-store: a corrupted block throws BlockCorruptError, and a put of the good bytes repairs it', async (t) => {
  const s = new MemBlockStore();
  const a = id();
  await s.put(a, bytes(100));
  s.corrupt(a, 17);
  await t.rejects(s.get(a, 0, 1), { code: 'BLOCK_CORRUPT', id: a });
  await s.put(a, bytes(100));
  t.same(await s.get(a), bytes(100));
});

t.test('mem-store: injected failures reject the next n calls and change nothing', async (t) => {
  const s = new MemBlockStore();
  s.failNext('put', 2);
  await t.rejects(s.put(id(), bytes(1)), InjectedFaultError);
  await t.rejects(s.put(id(), bytes(1)), { code: 'EIO' });
  await s.put(id(), bytes(1));
  t.equal(s.stats().count, 1);
  s.failNext('list');
  await t.rejects(s.list(), InjectedFaultError);
  t.equal((await s.list()).length, 1);
});

t.test('mem-store: a crash loses unsynced writes, rejects their callers, keeps synced ones', async (t) => {
  const s = new MemBlockStore();
  const a = id(), b = id(), c = id();
  await s.put(a, bytes(10));
  s.holdSyncs();
  const pb = s.put(b, bytes(20));
  const pa = s.put(a, bytes(10)); // an idempotent re-put of a synced block is already durable
  const pdel = s.delete([a]);
  const pc = s.put(c, bytes(30));
  const pc2 = s.put(c, bytes(30)); // re-put of an unsynced block must wait for that sync
  t.equal(await s.has(b), true, 'unsynced writes are visible before the crash');
  t.equal(s.unsynced(), 4);
  const s2 = s.crash();
  await pa;
  for (const p of [pb, pdel, pc, pc2]) await t.rejects(p, BlockStoreClosedError);
  await t.rejects(s.get(a), BlockStoreClosedError);
  t.equal(await s2.has(a), true, 'the unsynced delete is undone');
  t.equal(await s2.has(b), false);
  t.equal(await s2.has(c), false);
  t.same(s2.stats(), { count: 1, bytes: 10 });
});

t.test('mem-store: released syncs resolve writes in order and survive a later crash', async (t) => {
  const s = new MemBlockStore();
  const a = id();
  s.holdSyncs();
  let done = false;
  const p = s.put(a, bytes(10)).then(() => { done = true; });
  await Promise.resolve();
  t.equal(done, false);
  s.releaseSyncs();
  await p;
  t.equal(await s.crash().has(a), true);
});
