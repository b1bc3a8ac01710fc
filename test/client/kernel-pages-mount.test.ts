// Random reads through a real mount fill the kernel's page cache around the page asked for
// (client/vfs/kernel-pages.ts, FUSE_NOTIFY_STORE in the patched binding): the neighbouring pages are
// then served by the kernel without a request, they hold the file's bytes, and another mount's
// rewrite is still seen at the next open (close-to-open).
import t, { type Test } from 'tap';
import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';

const KiB = 1024;
const PAGE = 4 * KiB;

{
  const cluster = await startCluster(t, { nodes: 3 });
  // B runs with --debug: its log has one line per request the kernel sent, and one per store.
  const a = await mountFs(t, cluster.urls);
  const b = await mountFs(t, cluster.urls, { args: ['--debug'] });
  const A = a.dir, B = b.dir;

  const logLines = () => readFileSync(b.logFile, 'utf8').split('\n');
  const readsOf = (name: string) => logLines().filter((l) => l.includes(`DEBUG read /${name} `)).length;
  const storesOf = (ino: number) => logLines().filter((l) => l.includes(`bytes of inode ${ino} at `)).length;
  const content = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + (i >> 12) * seed + seed) & 0xff));

  /** Reads one page at `off` (a random read: the kernel asks for just that page when it lacks it). */
  const readPage = (fd: number, off: number) => {
    const buf = Buffer.alloc(PAGE);
    const n = readSync(fd, buf, 0, PAGE, off);
    return buf.subarray(0, n);
  };
  /** The pages of [lo, hi) in descending order, so the kernel sees no sequential run to read ahead. */
  const pagesDown = (lo: number, hi: number) => Array.from({ length: (hi - lo) / PAGE }, (_, i) => hi - PAGE * (i + 1));

  /** Mount A writes `data` as `name`; mount B opens it (flags) and learns its inode number. */
  const writtenByA = (name: string, data: Buffer, flags = 'r') => {
    writeFileSync(join(A, name), data);
    return { ino: statSync(join(B, name)).ino, fd: openSync(join(B, name), flags) };
  };

  const eventually = async (t: Test, what: string, f: () => boolean) => {
    const end = Date.now() + 5000;
    while (!f()) {
      if (Date.now() > end) return t.fail(`${what}: not seen within 5 s`);
      await sleep(20);
    }
    t.pass(what);
  };

  t.test('one random read brings its 64 KiB window into the kernel; the rest is served without requests', async (t) => {
    const data = content(512 * KiB, 3);
    const { ino, fd } = writtenByA('r', data);
    try {
      const readsBefore = readsOf('r');
      t.ok(readPage(fd, 200 * KiB).equals(data.subarray(200 * KiB, 204 * KiB)), 'the page read');
      await eventually(t, 'the window was stored', () => storesOf(ino) >= 2);
      const readsMid = readsOf('r');
      t.equal(readsMid - readsBefore, 1, 'one request for the first page');
      for (const off of pagesDown(192 * KiB, 256 * KiB)) {
        if (!readPage(fd, off).equals(data.subarray(off, off + PAGE))) t.fail(`bytes at ${off}`);
      }
      t.equal(readsOf('r') - readsMid, 0, 'the other 15 pages of the window came from the kernel');
      // Outside the window the kernel still asks (each page on its own: descending order).
      const readsOut = readsOf('r');
      t.ok(readPage(fd, 300 * KiB).equals(data.subarray(300 * KiB, 304 * KiB)), 'a page of another window');
      t.equal(readsOf('r') - readsOut, 1, 'asked for');
    } finally {
      closeSync(fd);
    }
  });

  t.test('after another mount rewrites the file, the next open reads the new bytes, not stored ones', async (t) => {
    const before = content(256 * KiB, 5);
    const opened = writtenByA('c', before);
    const ino = opened.ino;
    let fd = opened.fd;
    t.ok(readPage(fd, 100 * KiB).equals(before.subarray(100 * KiB, 104 * KiB)));
    await eventually(t, 'stored', () => storesOf(ino) >= 2);
    closeSync(fd);
    const after = content(256 * KiB, 9);
    writeFileSync(join(A, 'c'), after); // same size: only mtime tells the versions apart
    fd = openSync(join(B, 'c'), 'r');
    try {
      let bad = 0;
      for (const off of pagesDown(64 * KiB, 128 * KiB)) if (!readPage(fd, off).equals(after.subarray(off, off + PAGE))) bad++;
      t.equal(bad, 0, 'every page of the stored window reads the new contents');
    } finally {
      closeSync(fd);
    }
  });

  t.test('the window widens as random reads bring in more of the file: 64 KiB, 256 KiB past a sixteenth, 1 MiB past a quarter', async (t) => {
    const data = content(4096 * KiB, 11);
    const { ino, fd } = writtenByA('wide', data);
    // A's `changed` push for the new file fences it on B; a read that began before the push landed
    // has its store refused by design, and this test counts every store: let the push land first.
    await sleep(300);
    const storedBytes = () => logLines().reduce((n, l) => {
      const m = / stored (\d+) bytes of inode (\d+) at /.exec(l);
      return m && Number(m[2]) === ino ? n + Number(m[1]) : n;
    }, 0);
    try {
      // Each read asks for one page no earlier window holds, far from the last (no sequential run).
      const steps: [number, number][] = [
        [60 * 64 * KiB + 4 * KiB, 64], [58 * 64 * KiB + 4 * KiB, 64], [56 * 64 * KiB + 4 * KiB, 64], [54 * 64 * KiB + 4 * KiB, 64],
        [5 * 256 * KiB + 8 * KiB, 256], [2 * 256 * KiB + 8 * KiB, 256], [256 * KiB + 44 * KiB, 256],
        [3 * 1024 * KiB + 28 * KiB, 1024],
      ];
      for (const [off, windowKiB] of steps) {
        const before = storedBytes();
        t.ok(readPage(fd, off).equals(data.subarray(off, off + PAGE)), `the page at ${off / KiB} KiB`);
        const want = (windowKiB - 4) * KiB;
        await eventually(t, `its ${windowKiB} KiB window was stored`, () => storedBytes() - before >= want);
        t.equal(storedBytes() - before, want, `${windowKiB} KiB window around ${off / KiB} KiB, less the page asked for`);
      }
      let bad = 0;
      for (const off of pagesDown(0, 4096 * KiB)) if (!readPage(fd, off).equals(data.subarray(off, off + PAGE))) bad++;
      t.equal(bad, 0, 'every page of the file reads its bytes');
    } finally {
      closeSync(fd);
    }
  });

  t.test('a file open for writing on this mount is not stored into', async (t) => {
    const data = content(256 * KiB, 7);
    const { ino, fd } = writtenByA('w', data, 'r+');
    try {
      t.ok(readPage(fd, 100 * KiB).equals(data.subarray(100 * KiB, 104 * KiB)));
      await sleep(300);
      t.equal(storesOf(ino), 0, 'no stores while a writer is open here');
    } finally {
      closeSync(fd);
    }
  });
}
