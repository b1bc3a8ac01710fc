import t from 'tap';
import { makeBlockId } from '../../../shared/block-id.js';
import type { BlockId } from '../../../shared/types.js';
import { BlockCollector, type BlockCollectorOptions, type CollectorProgress } from '../../../storagenode/blocks/collector.js';
import { MemBlockStore } from '../../../storagenode/blocks/mem-store.js';

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

/** A clock tests drive: sleep advances time at once and records how long it slept. */
function fakeClock(start: number) {
  const c = { t: start, slept: 0, now: () => c.t, sleep: async (ms: number) => { c.t += ms; c.slept += ms; } };
  return c;
}
let seq = 0;
const idAt = (ms: number) => makeBlockId(ms, (++seq).toString(16).padStart(16, '0'));

async function setup(opts: { blocks: { bornMs: number; storedAtMs?: number }[] }) {
  const clock = fakeClock(T0);
  let storedAt = T0;
  const store = new MemBlockStore({ now: () => storedAt });
  const ids: BlockId[] = [];
  for (const b of opts.blocks) {
    const id = idAt(b.bornMs);
    storedAt = b.storedAtMs ?? b.bornMs;
    await store.put(id, new Uint8Array(100));
    ids.push(id);
  }
  return { clock, store, ids };
}
function collector(o: Pick<BlockCollectorOptions, 'store' | 'isReferenced' | 'clock'> & Partial<BlockCollectorOptions>) {
  return new BlockCollector({ graceMs: HOUR, ...o });
}

t.test('collector: deletes old unreferenced blocks and keeps referenced ones', async (t) => {
  const { clock, store, ids } = await setup({ blocks: Array.from({ length: 10 }, () => ({ bornMs: T0 - 2 * HOUR })) });
  const referenced = new Set(ids.filter((_x, i) => i % 3 === 0));
  const asked: BlockId[] = [];
  const c = collector({ store, clock, pageSize: 4, isReferenced: async (xs) => { asked.push(...xs); return xs.map((x) => referenced.has(x)); } });
  const p = await c.runPass();
  t.match(p, { scanned: 10, young: 0, kept: 4, deleted: 6, bytesFreed: 600, done: true });
  t.equal(p.stopped, undefined);
  t.same(asked, ids, 'every old block was asked about, in id order');
  t.same((await store.list()).map((e) => e.id), [...referenced]);
});

t.test('collector: spares blocks younger than the grace period by id time or by storedAtMs', async (t) => {
  const { clock, store, ids } = await setup({
    blocks: [
      { bornMs: T0 - 2 * HOUR }, // old: goes
      { bornMs: T0 - HOUR + 1 }, // made 1 ms inside the grace period: stays
      { bornMs: T0 - 5 * HOUR, storedAtMs: T0 - 60_000 }, // old id, stored here a minute ago (repair): stays
      { bornMs: T0 }, // brand new: stays
    ],
  });
  const c = collector({ store, clock, isReferenced: async (xs) => xs.map(() => false) });
  const p = await c.runPass();
  t.match(p, { scanned: 4, young: 3, deleted: 1 });
  t.same((await store.list()).map((e) => e.id), ids.slice(1).sort());
  clock.t += HOUR; // now all are past the grace period
  t.match(await c.runPass(), { scanned: 3, young: 0, deleted: 3 });
});

t.test('collector: a failing isReferenced deletes nothing in that page, and the next pass resumes there', async (t) => {
  const { clock, store, ids } = await setup({ blocks: Array.from({ length: 9 }, () => ({ bornMs: T0 - 2 * HOUR })) });
  let calls = 0;
  const c = collector({
    store, clock, pageSize: 3,
    isReferenced: async (xs) => { if (++calls === 2) throw new Error('no leader'); return xs.map(() => false); },
  });
  const p1 = await c.runPass();
  t.match(p1, { scanned: 3, deleted: 3, stopped: 'isReferenced failed: no leader' });
  t.same((await store.list()).map((e) => e.id), ids.slice(3), 'the failed page is untouched');
  const p2 = await c.runPass();
  t.match(p2, { scanned: 6, deleted: 6 });
  t.equal(p2.stopped, undefined);
  t.equal(store.stats().count, 0);
});

t.test('collector: a malformed isReferenced answer deletes nothing', async (t) => {
  const { clock, store } = await setup({ blocks: Array.from({ length: 4 }, () => ({ bornMs: T0 - 2 * HOUR })) });
  const wrongLength = collector({ store, clock, isReferenced: async (xs) => xs.slice(1).map(() => false) });
  t.match(await wrongLength.runPass(), { deleted: 0, stopped: /answered 3 for 4 ids/ });
  // Anything but an explicit false (undefined, null, 0) keeps the block.
  const loose = collector({ store, clock, isReferenced: async (xs) => xs.map(() => undefined as unknown as boolean) });
  t.match(await loose.runPass(), { scanned: 4, deleted: 0, kept: 4 });
  t.equal(store.stats().count, 4);
});

t.test('collector: a failing list or delete stops the pass without losing its place', async (t) => {
  const { clock, store } = await setup({ blocks: Array.from({ length: 4 }, () => ({ bornMs: T0 - 2 * HOUR })) });
  const c = collector({ store, clock, pageSize: 2, isReferenced: async (xs) => xs.map(() => false) });
  store.failNext('list');
  t.match(await c.runPass(), { scanned: 0, stopped: /list failed/ });
  store.failNext('delete');
  t.match(await c.runPass(), { deleted: 0, stopped: /delete failed/ });
  t.match(await c.runPass(), { deleted: 4 });
});

t.test('collector: the rate bound holds: 1000 blocks at 100 blocks/s take at least 10 s of clock', async (t) => {
  const { clock, store } = await setup({ blocks: Array.from({ length: 1000 }, () => ({ bornMs: T0 - 2 * HOUR })) });
  const pages: number[] = [];
  const c = collector({
    store, clock, rateBlocksPerSec: 100, pageSize: 500,
    isReferenced: async (xs) => { pages.push(xs.length); return xs.map(() => true); },
  });
  const p = await c.runPass();
  t.equal(p.scanned, 1000);
  t.ok(clock.t - T0 >= 9_000, `took ${clock.t - T0} ms of clock`); // the last page needs no wait after it
  t.ok(pages.every((n) => n <= 100), 'a page is at most one second of the rate');
});

t.test('collector: one pass at a time: a second runPass joins the running one', async (t) => {
  const { clock, store } = await setup({ blocks: Array.from({ length: 3 }, () => ({ bornMs: T0 - 2 * HOUR })) });
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let calls = 0;
  const c = collector({ store, clock, isReferenced: async (xs) => { calls++; await gate; return xs.map(() => false); } });
  const a = c.runPass(), b = c.runPass();
  t.equal(a, b);
  t.equal(c.isRunning, true);
  release();
  t.match(await a, { pass: 1, deleted: 3 });
  t.equal(calls, 1);
  t.equal(c.isRunning, false);
  t.match(await c.runPass(), { pass: 2, scanned: 0 });
});

t.test('collector: progress is reported per page and at the end, and logged in plain lines', async (t) => {
  const { clock, store } = await setup({ blocks: Array.from({ length: 5 }, () => ({ bornMs: T0 - 2 * HOUR })) });
  const seen: CollectorProgress[] = [];
  const lines: string[] = [];
  const log = { debug: () => {}, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: () => {}, child: () => log };
  const c = collector({ store, clock, pageSize: 2, isReferenced: async (xs) => xs.map(() => false), onProgress: (p) => seen.push(p), log });
  await c.runPass();
  t.same(seen.map((p) => [p.scanned, p.deleted, p.done]), [[2, 2, false], [4, 4, false], [5, 5, false], [5, 5, true]]);
  t.equal(seen.at(-1)!.bytesFreed, 500);
  t.match(lines, [/gc pass 1: start at the first block/, /gc pass 1: done: scanned 5, young 0, kept 0, deleted 5 \(500 bytes\)/]);
});

t.test('collector: stop() ends the pass after the current page', async (t) => {
  const { clock, store } = await setup({ blocks: Array.from({ length: 6 }, () => ({ bornMs: T0 - 2 * HOUR })) });
  const c = collector({ store, clock, pageSize: 2, isReferenced: async (xs) => { c.stop(); return xs.map(() => false); } });
  t.match(await c.runPass(), { scanned: 2, deleted: 2, stopped: 'stop requested' });
});

t.test('collector: a grace period not longer than the commit age limit is refused', async (t) => {
  const { clock, store } = await setup({ blocks: [] });
  t.throws(() => collector({ store, clock, graceMs: 1000, isReferenced: async () => [] }), { name: 'AssertionError' });
});
