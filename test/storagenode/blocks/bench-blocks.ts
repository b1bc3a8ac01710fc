// Block store benchmark: put/get throughput of a backend (--backend=blob|level|both) with sync, by block
// size, the gain of group commit, and the raw disk (O_DSYNC 4 MiB writes) for scale. Run through
// scripts/bench-blocks; not part of the test suite (no .test.ts suffix).
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBlockId } from '../../../shared/block-id.js';
import { BlobBlockStore } from '../../../storagenode/blocks/blob-store.js';
import { LevelBlockStore, type LevelBlockStoreOptions } from '../../../storagenode/blocks/level-store.js';
import type { SuiteStore } from './block-store-suite.js';

const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const TOTAL_MIB = arg('mib', 256); // data written per size and mode
const CONC = arg('concurrency', 16);
const dirArg = process.argv.find((a) => a.startsWith('--dir='))?.split('=')[1];
const sizesArg = process.argv.find((a) => a.startsWith('--sizes='))?.split('=')[1]; // KiB, comma-separated
const SIZES = sizesArg ? sizesArg.split(',').map((k) => Number(k) << 10) : [4 << 20, 1 << 20, 64 << 10, 4 << 10];
const WBUF_MIB = arg('wbuf', 0); // LevelDB memtable MiB; 0 keeps the store's default
const tuning: Partial<LevelBlockStoreOptions> = WBUF_MIB > 0 ? { writeBufferBytes: WBUF_MIB << 20 } : {};
const backendArg = process.argv.find((a) => a.startsWith('--backend='))?.split('=')[1] ?? 'both';
const BACKENDS = backendArg === 'both' ? ['level', 'blob'] : [backendArg];
type Opts = { groupCommit?: boolean };
const openers: Record<string, (path: string, o: Opts) => Promise<SuiteStore>> = {
  level: (path, o) => LevelBlockStore.open({ path, ...tuning, ...o }),
  blob: (path, o) => BlobBlockStore.open({ path, ...o }),
};
let backend = 'level';

const pool = randomBytes(8 << 20);
let seq = 0;
const newId = () => makeBlockId(Date.now(), (++seq).toString(16).padStart(16, '0'));
const block = (size: number, i: number) => pool.subarray((i * 4099) % (pool.length - size), (i * 4099) % (pool.length - size) + size);

/** Runs `n` tasks with `conc` in flight; returns seconds. */
async function timed(n: number, conc: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(conc, n) }, async () => {
    while (next < n) await task(next++);
  }));
  return (performance.now() - t0) / 1000;
}

function row(what: string, size: number, n: number, secs: number, extra = ''): void {
  const mbs = (n * size) / secs / 1e6;
  what = `${backend} ${what}`;
  const kib = size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`;
  console.log(`${what.padEnd(34)} ${kib.padStart(6)}  ${mbs.toFixed(0).padStart(6)} MB/s  ${(n / secs).toFixed(0).padStart(6)} ops/s  ${extra}`);
}

async function withStore<T>(opts: Opts, f: (s: SuiteStore) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(dirArg ?? tmpdir(), 'tidefs-bench-'));
  const s = await openers[backend]!(dir, opts);
  try {
    return await f(s);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchSize(size: number): Promise<void> {
  // Small blocks are fsync-bound: cap their count so a run stays short.
  const n = Math.max(16, Math.min(Math.floor((TOTAL_MIB << 20) / size), 4000));
  const serial = Math.min(n, size >= 1 << 20 ? n : 500);
  await withStore({}, async (s) => {
    const ids = Array.from({ length: serial }, newId);
    row('put sync, 1 in flight', size, serial, await timed(serial, 1, (i) => s.put(ids[i]!, block(size, i))));
  });
  await withStore({ groupCommit: false }, async (s) => {
    const ids = Array.from({ length: n }, newId);
    row(`put sync, ${CONC} in flight, no group`, size, n, await timed(n, CONC, (i) => s.put(ids[i]!, block(size, i))),
      `${s.commits.batches} fsyncs`);
  });
  await withStore({}, async (s) => {
    const ids = Array.from({ length: n }, newId);
    row(`put sync, ${CONC} in flight, group`, size, n, await timed(n, CONC, (i) => s.put(ids[i]!, block(size, i))),
      `${s.commits.batches} fsyncs`);
    row('get whole, 1 in flight', size, n, await timed(n, 1, (i) => s.get(ids[i]!)));
    row(`get whole, ${CONC} in flight`, size, n, await timed(n, CONC, (i) => s.get(ids[(i * 7) % n]!)));
  });
}

/** The disk's own sequential rate with O_DSYNC 4 MiB writes: what a block store can approach at best. */
function rawDisk(): void {
  const dir = mkdtempSync(join(dirArg ?? tmpdir(), 'tidefs-bench-'));
  const fd = openSync(join(dir, 'raw'), constants.O_WRONLY | constants.O_CREAT | constants.O_DSYNC);
  const n = Math.max(16, TOTAL_MIB >> 2), t0 = performance.now();
  for (let i = 0; i < n; i++) writeSync(fd, pool.subarray(0, 4 << 20));
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  backend = 'raw';
  row('O_DSYNC 4 MiB writes, sequential', 4 << 20, n, (performance.now() - t0) / 1000);
}

console.log(`backends ${BACKENDS.join(', ')}, sync: true, ${TOTAL_MIB} MiB per size (4000 blocks at most), ${CONC} in flight, ` +
  `level memtable ${WBUF_MIB || 'default'} MiB, node ${process.version}`);
rawDisk();
for (const size of SIZES) {
  for (const b of BACKENDS) {
    backend = b;
    await benchSize(size);
  }
}
rawDisk();
