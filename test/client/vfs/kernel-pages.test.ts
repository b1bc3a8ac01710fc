// Random reads hand the 64 KiB around the page asked for to the kernel's page cache
// (client/vfs/kernel-pages.ts). These tests record what the VFS stores, and check that a store never
// lands after an operation that made its bytes stale: an open (which may drop the kernel's pages), a
// truncate, a writer on this mount.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../shared/log.js';
import { KernelPages, type PageStorer } from '../../../client/vfs/kernel-pages.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { O_CREAT, O_RDONLY, O_RDWR, O_WRONLY } from '../../../client/vfs/perms.js';
import type { OpContext } from '../../../client/vfs/types.js';
import { FakeCluster } from './fake-cluster.js';

const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
const KiB = 1024;
const must = <T>(r: { ok: true; value: T } | { ok: false; errno: string }): T => {
  if (!r.ok) throw new Error(`unexpected ${r.errno}`);
  return r.value;
};

interface Stored { ino: number; off: number; data: Buffer; done: () => void }

/** A kernel that records stores; with `hold`, each store stays under way until done() is called. */
function recordingStorer(hold = false) {
  const stored: Stored[] = [];
  const s: PageStorer = {
    storeData: (ino, off, data) => new Promise((resolve) => {
      const rec = { ino, off, data: Buffer.from(data), done: () => resolve(1) };
      stored.push(rec);
      if (!hold) rec.done();
    }),
  };
  return { s, stored };
}

async function setup(hold = false) {
  const cluster = await FakeCluster.create();
  const opts = { cluster, clock: { nowMs: () => Date.now() }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: 1000 };
  const a = new Vfs(opts);
  const b = new Vfs(opts);
  const { s, stored } = recordingStorer(hold);
  const pages = new KernelPages(s, silentLogger);
  b.files.attachPages(pages);
  // gate(): block fetches wait until the returned function is called, so a test can act in between.
  const getBlock = cluster.getBlock.bind(cluster);
  let gateOpen: Promise<void> = Promise.resolve();
  cluster.getBlock = async (...args: Parameters<typeof getBlock>) => {
    await gateOpen;
    return getBlock(...args);
  };
  const gate = () => {
    let open!: () => void;
    gateOpen = new Promise((r) => { open = r; });
    return () => open();
  };
  return { a, b, stored, pages, gate };
}

const content = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 12)) & 0xff));

async function writeFile(v: Vfs, path: string, data: Buffer): Promise<void> {
  const fd = must(await v.create(ROOT, path, 0o644, O_CREAT | O_WRONLY));
  must(await v.write(ROOT, fd, 0, data));
  must(await v.release(ROOT, fd));
}

const flushed = () => new Promise((r) => setImmediate(r));

t.test('a random read stores the rest of its 64 KiB window, and the bytes are the file\'s', async (t) => {
  const { a, b, stored } = await setup();
  const data = content(300 * KiB);
  await writeFile(a, '/f', data);
  const fd = must(await b.open(ROOT, '/f', O_RDONLY));
  const got = must(await b.read(ROOT, fd, 200 * KiB + 100, 4000)); // pages 200K and 204K, in window [192K, 256K)
  t.ok(got.equals(data.subarray(200 * KiB + 100, 200 * KiB + 4100)), 'the read answers its bytes');
  await flushed();
  t.same(stored.map((s) => [s.off, s.data.byteLength]), [[192 * KiB, 8 * KiB], [208 * KiB, 48 * KiB]], 'the window minus the pages asked for');
  for (const s of stored) t.ok(s.data.equals(data.subarray(s.off, s.off + s.data.byteLength)), `bytes at ${s.off}`);
  // The last window is clipped to the size (the kernel grows i_size to the end of a store).
  stored.length = 0;
  must(await b.read(ROOT, fd, 292 * KiB, 4 * KiB));
  await flushed();
  t.same(stored.map((s) => [s.off, s.off + s.data.byteLength]), [[256 * KiB, 292 * KiB], [296 * KiB, 300 * KiB]], 'clipped at the end of the file');
  must(await b.release(ROOT, fd));
});

t.test('sequential reads store nothing (kernel read-ahead has them)', async (t) => {
  const { a, b, stored } = await setup();
  await writeFile(a, '/s', content(512 * KiB));
  const fd = must(await b.open(ROOT, '/s', O_RDONLY));
  for (let off = 0; off < 512 * KiB; off += 128 * KiB) must(await b.read(ROOT, fd, off, 128 * KiB));
  await flushed();
  t.same(stored, []);
  must(await b.release(ROOT, fd));
});

t.test('nothing is stored while this mount has the file open for writing', async (t) => {
  const { a, b, stored } = await setup();
  await writeFile(a, '/w', content(256 * KiB));
  const w = must(await b.open(ROOT, '/w', O_RDWR));
  const r = must(await b.open(ROOT, '/w', O_RDONLY));
  must(await b.read(ROOT, r, 100 * KiB, 4 * KiB));
  must(await b.read(ROOT, w, 150 * KiB, 4 * KiB));
  await flushed();
  t.same(stored, [], 'a writer here: its pages are the kernel\'s');
  must(await b.release(ROOT, w));
  must(await b.read(ROOT, r, 100 * KiB, 4 * KiB));
  await flushed();
  t.ok(stored.length > 0, 'stored again once the writer closed');
  must(await b.release(ROOT, r));
});

t.test('an open answers only after the stores under way have landed', async (t) => {
  const { a, b, stored } = await setup(true);
  await writeFile(a, '/o', content(256 * KiB));
  const fd = must(await b.open(ROOT, '/o', O_RDONLY));
  must(await b.read(ROOT, fd, 100 * KiB, 4 * KiB));
  await flushed();
  t.equal(stored.length, 2, 'two stores under way');
  let opened = false;
  const second = b.open(ROOT, '/o', O_RDONLY).then((r) => { opened = true; return r; });
  for (let i = 0; i < 20; i++) await flushed();
  t.notOk(opened, 'the open waits');
  stored[0].done();
  for (let i = 0; i < 5; i++) await flushed();
  t.notOk(opened, 'still one under way');
  stored[1].done();
  must(await second);
  t.ok(opened, 'answered once both landed');
});

t.test('a read that began before a truncate stores nothing after it', async (t) => {
  const { a, b, stored, pages, gate } = await setup();
  await writeFile(a, '/t', content(256 * KiB));
  const fd = must(await b.open(ROOT, '/t', O_RDONLY));
  const w = must(await a.open(ROOT, '/t', O_WRONLY));
  // The read starts, then (before its bytes come back) this mount truncates the file.
  const release = gate();
  const read = b.read(ROOT, fd, 200 * KiB, 4 * KiB);
  must(await b.truncate(ROOT, '/t', 10 * KiB));
  release();
  must(await read);
  await flushed();
  t.same(stored, [], 'the read\'s window is stale');
  t.equal(pages.stats.stale, 1, 'counted as stale');
  must(await a.release(ROOT, w));
  must(await b.release(ROOT, fd));
});

t.test('another mount\'s change fences the inode: data read before it is not stored', async (t) => {
  const { a, b, stored, pages, gate } = await setup();
  await writeFile(a, '/c', content(256 * KiB));
  const ino = must(await b.getattr(ROOT, '/c')).ino;
  const fd = must(await b.open(ROOT, '/c', O_RDONLY));
  let release = gate();
  const read = b.read(ROOT, fd, 64 * KiB, 4 * KiB);
  await b.remoteChanged({ inos: [ino] });
  release();
  must(await read);
  await flushed();
  t.same(stored, []);
  t.equal(pages.stats.stale, 1);
  // A gap in the change feed fences every inode.
  release = gate();
  const read2 = b.read(ROOT, fd, 128 * KiB + 4 * KiB * 3, 4 * KiB);
  await b.remoteChanged({ all: true });
  release();
  must(await read2);
  await flushed();
  t.same(stored, []);
  must(await b.release(ROOT, fd));
});
