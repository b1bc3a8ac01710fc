import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBlockId } from '../../../shared/block-id.js';
import { BlockConflictError, BlockCorruptError, BlockStoreClosedError, type BlockStore } from '../../../storagenode/blocks/block-store.js';

/** What the shared suite needs from a backend (JuiceFS style: one suite for all engines). */
export interface SuiteStore extends BlockStore {
  readonly commits: { batches: number; requests: number };
  recount(): Promise<{ count: number; bytes: number }>;
}
export interface SuiteOptions { path: string; now?: () => number; batchBytesMax?: number }
export interface Backend {
  name: string;
  open(opts: SuiteOptions): Promise<SuiteStore>;
  /** On a closed store: flip one byte of `payload`'s bytes; damage `frame`'s stored length or header. */
  corrupt(dir: string, ids: { payload: string; frame: string }): Promise<void>;
}

/** A temp dir removed in teardown, which tap runs even when the test fails. */
export function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tidefs-blocks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
let seq = 0;
export function id(ms = 1_700_000_000_000): string {
  return makeBlockId(ms, (++seq).toString(16).padStart(16, '0'));
}
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

/** The BlockStore contract (block-store.ts), run against one backend. */
export function blockStoreSuite(be: Backend): void {
  async function openStore(t: Test, dir: string, opts: Partial<SuiteOptions> = {}): Promise<SuiteStore> {
    const s = await be.open({ path: dir, ...opts });
    t.teardown(() => s.close());
    return s;
  }

  t.test(`${be.name}: put then get returns the bytes, has and stats agree`, async (t) => {
    const s = await openStore(t, tempDir(t));
    const a = id(), data = bytes(100_000);
    t.equal(await s.has(a), false);
    t.equal(await s.get(a), null);
    await s.put(a, data);
    t.equal(await s.has(a), true);
    t.same(Buffer.from((await s.get(a))!), data);
    t.same(s.stats(), { count: 1, bytes: 100_000 });
  });

  t.test(`${be.name}: get of a range returns that slice, clamped to the block end`, async (t) => {
    const s = await openStore(t, tempDir(t));
    const a = id(), data = bytes(4096);
    await s.put(a, data);
    t.same(Buffer.from((await s.get(a, 100, 50))!), data.subarray(100, 150));
    t.same(Buffer.from((await s.get(a, 4000, 1000))!), data.subarray(4000));
    t.same(Buffer.from((await s.get(a, 1000))!), data.subarray(1000));
    t.equal((await s.get(a, 5000, 10))!.length, 0);
  });

  t.test(`${be.name}: an empty block is stored and read back`, async (t) => {
    const s = await openStore(t, tempDir(t));
    const a = id();
    await s.put(a, new Uint8Array(0));
    t.equal((await s.get(a))!.length, 0);
    t.same(s.stats(), { count: 1, bytes: 0 });
  });

  t.test(`${be.name}: re-put of the same bytes is idempotent and counts once`, async (t) => {
    const s = await openStore(t, tempDir(t));
    const a = id(), data = bytes(1000);
    await s.put(a, data);
    await s.put(a, Buffer.from(data));
    await Promise.all([s.put(a, data), s.put(a, data)]);
    t.same(s.stats(), { count: 1, bytes: 1000 });
  });

  t.test(`${be.name}: different bytes under an existing id are refused with BlockConflictError`, async (t) => {
    const s = await openStore(t, tempDir(t));
    const a = id(), data = bytes(1000);
    await s.put(a, data);
    await t.rejects(s.put(a, bytes(1000, 2)), BlockConflictError);
    await t.rejects(s.put(a, bytes(999)), { code: 'BLOCK_CONFLICT', id: a });
    t.same(Buffer.from((await s.get(a))!), data);
    // Within one group-committed batch, too: the first writer wins, the second is refused.
    const b = id();
    const [r1, r2] = await Promise.allSettled([s.put(b, bytes(10, 1)), s.put(b, bytes(10, 2))]);
    t.equal(r1.status, 'fulfilled');
    t.equal(r2.status, 'rejected');
    t.same(s.stats(), { count: 2, bytes: 1010 });
  });

  t.test(`${be.name}: delete removes blocks, ignores absent ids, and fixes stats`, async (t) => {
    const s = await openStore(t, tempDir(t));
    const a = id(), b = id(), c = id();
    await Promise.all([s.put(a, bytes(10)), s.put(b, bytes(20)), s.put(c, bytes(30))]);
    await s.delete([a, c, id(), a]);
    t.equal(await s.has(a), false);
    t.equal(await s.get(c), null);
    t.equal(await s.has(b), true);
    t.same(s.stats(), { count: 1, bytes: 20 });
    await s.delete([]);
  });

  t.test(`${be.name}: list is ordered by id and pages with after/limit`, async (t) => {
    const s = await openStore(t, tempDir(t), { now: () => 42 });
    const ids = Array.from({ length: 25 }, (_, i) => id(1_700_000_000_000 + (i % 5)));
    await Promise.all(ids.map((x, i) => s.put(x, bytes(i))));
    const sorted = [...ids].sort();
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await s.list({ ...(after === undefined ? {} : { after }), limit: 7 });
      if (page.length === 0) break;
      t.ok(page.length <= 7);
      for (const e of page) {
        t.equal(e.size, ids.indexOf(e.id));
        t.equal(e.storedAtMs, 42);
      }
      seen.push(...page.map((e) => e.id));
      after = page[page.length - 1]!.id;
    }
    t.same(seen, sorted);
  });

  t.test(`${be.name}: blocks, list and stats survive close and reopen`, async (t) => {
    const dir = tempDir(t);
    const s1 = await be.open({ path: dir });
    const a = id(), b = id();
    await s1.put(a, bytes(500));
    await s1.put(b, bytes(700));
    await s1.delete([a]);
    await s1.close();
    await t.rejects(s1.put(id(), bytes(1)), BlockStoreClosedError);
    const s2 = await openStore(t, dir);
    t.same(s2.stats(), { count: 1, bytes: 700 });
    t.same(Buffer.from((await s2.get(b))!), bytes(700));
    t.same((await s2.list()).map((e) => e.id), [b]);
    t.same(await s2.recount(), { count: 1, bytes: 700 });
  });

  t.test(`${be.name}: a flipped byte in the stored value is caught on every read, whole or range`, async (t) => {
    const dir = tempDir(t);
    const s1 = await be.open({ path: dir });
    const a = id(), b = id(), data = bytes(64 * 1024);
    await s1.put(a, data);
    await s1.put(b, data);
    await s1.close();
    // Flip one payload byte of a (far from the range read below); damage b's stored length or header.
    await be.corrupt(dir, { payload: a, frame: b });
    const s2 = await openStore(t, dir);
    await t.rejects(s2.get(a), BlockCorruptError);
    await t.rejects(s2.get(a, 0, 10), { code: 'BLOCK_CORRUPT', id: a });
    await t.rejects(s2.get(b), { code: 'BLOCK_CORRUPT', id: b });
    // A put of the good bytes repairs the bad copy instead of being refused.
    await s2.put(a, data);
    t.same(Buffer.from((await s2.get(a))!), data);
    t.same(s2.stats(), { count: 2, bytes: 2 * data.length });
  });

  t.test(`${be.name}: many concurrent puts group into few synced batches and all land`, async (t) => {
    const dir = tempDir(t);
    const s = await be.open({ path: dir });
    const ids = Array.from({ length: 300 }, () => id());
    const res = await Promise.allSettled(ids.map((x, i) => s.put(x, bytes(4096 + i, i))));
    t.ok(res.every((r) => r.status === 'fulfilled'));
    t.equal(s.commits.requests, 300);
    t.equal(s.commits.batches, 1, 'puts issued in one tick share one synced batch');
    const total = ids.reduce((n, _x, i) => n + 4096 + i, 0);
    t.same(s.stats(), { count: 300, bytes: total });
    await s.close();
    const s2 = await openStore(t, dir);
    t.same(s2.stats(), { count: 300, bytes: total });
    for (const [i, x] of ids.entries()) t.same(Buffer.from((await s2.get(x))!), bytes(4096 + i, i), `block ${i}`);
  });

  t.test(`${be.name}: a batch stops at batchBytesMax, and later puts wait for the next one`, async (t) => {
    const s = await openStore(t, tempDir(t), { batchBytesMax: 4 * 1024 * 1024 });
    const ids = Array.from({ length: 9 }, () => id());
    await Promise.all(ids.map((x) => s.put(x, bytes(1024 * 1024))));
    t.equal(s.commits.batches, 3, '9 MiB in batches of at most 4 MiB');
    t.same(s.stats(), { count: 9, bytes: 9 * 1024 * 1024 });
  });

  t.test(`${be.name}: puts and deletes interleaved in one batch apply in call order`, async (t) => {
    const s = await openStore(t, tempDir(t));
    const a = id();
    await Promise.all([s.put(a, bytes(10)), s.delete([a]), s.put(a, bytes(20))]);
    t.same(Buffer.from((await s.get(a))!), bytes(20));
    t.same(s.stats(), { count: 1, bytes: 20 });
  });

  t.test(`${be.name}: close waits for queued puts, which are then durable`, async (t) => {
    const dir = tempDir(t);
    const s = await be.open({ path: dir });
    const ids = Array.from({ length: 20 }, () => id());
    const puts = ids.map((x) => s.put(x, bytes(1000)));
    await s.close();
    await Promise.all(puts);
    const s2 = await openStore(t, dir);
    t.equal(s2.stats().count, 20);
  });

  t.test(`${be.name}: a bad block id or an oversized block is a bug and throws`, async (t) => {
    const s = await openStore(t, tempDir(t));
    t.throws(() => s.put('nope', bytes(1)), { name: 'AssertionError' });
    t.throws(() => s.put(id(), new Uint8Array(4 * 1024 * 1024 + 1)), { name: 'AssertionError' });
  });
}
