import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { runCmd } from './processes.js';

/** One figure of one workload on one target. Higher is better unless `lowerIsBetter`. */
export interface Figure {
  metric: string;
  value: number;
  unit: string;
  lowerIsBetter?: boolean;
}

export interface Sizes {
  seqBytes: number; // sequential file size
  randSeconds: number; // runtime of each random-I/O job
  files: number; // empty files for create/stat/delete
  smallFiles: number; // 16 KiB files
  tarEntries: number;
}
export const FULL: Sizes = { seqBytes: 1 << 30, randSeconds: 15, files: 10_000, smallFiles: 2_000, tarEntries: 7_000 };
export const QUICK: Sizes = { seqBytes: 128 << 20, randSeconds: 4, files: 1_000, smallFiles: 300, tarEntries: 1_000 };

/** sync, then drop the page, dentry and inode caches (needs root; without it the figures include the caches). */
export async function dropCaches(): Promise<void> {
  await runCmd('sync', []);
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    // not root: the figures then include the page cache; the report says so
  }
}

export async function fio(dir: string, args: string[]): Promise<{ bwBytes: number; iops: number }> {
  const out = await runCmd('fio', ['--output-format=json', '--ioengine=psync', `--directory=${dir}`, '--group_reporting', ...args]);
  const job = JSON.parse(out.slice(out.indexOf('{'))).jobs[0];
  const rw = job.write.io_bytes > 0 && job.read.io_bytes === 0 ? job.write : job.read;
  return { bwBytes: rw.bw_bytes, iops: rw.iops };
}

export async function sequential(dir: string, s: Sizes): Promise<Figure[]> {
  const size = `--size=${s.seqBytes}`;
  const w = await fio(dir, ['--name=seq', '--filename=seq.dat', '--rw=write', '--bs=1M', size, '--end_fsync=1']);
  await dropCaches();
  const r = await fio(dir, ['--name=seq', '--filename=seq.dat', '--rw=read', '--bs=1M', size]);
  return [
    { metric: 'seq_write_1m_fsync', value: w.bwBytes / 2 ** 20, unit: 'MiB/s' },
    { metric: 'seq_read_1m_cold', value: r.bwBytes / 2 ** 20, unit: 'MiB/s' },
  ];
}

export async function random4k(dir: string, s: Sizes): Promise<Figure[]> {
  const common = ['--filename=seq.dat', '--bs=4k', '--numjobs=4', '--time_based', `--runtime=${s.randSeconds}`, `--size=${s.seqBytes}`];
  await dropCaches();
  const r = await fio(dir, ['--name=randread', '--rw=randread', ...common]);
  const w = await fio(dir, ['--name=randwrite', '--rw=randwrite', '--end_fsync=1', ...common]);
  unlinkSync(join(dir, 'seq.dat'));
  return [
    { metric: 'rand_read_4k_4jobs', value: r.iops, unit: 'IOPS' },
    { metric: 'rand_write_4k_4jobs', value: w.iops, unit: 'IOPS' },
  ];
}

function rate(n: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export async function emptyFiles(dir: string, s: Sizes): Promise<Figure[]> {
  const d = join(dir, 'empty');
  mkdirSync(d);
  const names = Array.from({ length: s.files }, (_, i) => join(d, `f${i}`));
  const create = rate(s.files, () => names.forEach((p) => closeSync(openSync(p, 'wx'))));
  const stat = rate(s.files, () => names.forEach((p) => statSync(p)));
  const del = rate(s.files, () => names.forEach((p) => unlinkSync(p)));
  return [
    { metric: 'create_empty', value: create, unit: 'files/s' },
    { metric: 'stat', value: stat, unit: 'files/s' },
    { metric: 'delete', value: del, unit: 'files/s' },
  ];
}

export async function smallFiles(dir: string, s: Sizes): Promise<Figure[]> {
  const d = join(dir, 'small');
  mkdirSync(d);
  const data = Buffer.alloc(16 * 1024, 7);
  const names = Array.from({ length: s.smallFiles }, (_, i) => join(d, `s${i}`));
  // Each file is written and closed (close is durable on a quorum in tidefs); the local baseline
  // gets the same fsync so both sides promise the same thing.
  const write = rate(s.smallFiles, () => names.forEach((p) => {
    const fd = openSync(p, 'w');
    writeSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
  }));
  await dropCaches();
  const read = rate(s.smallFiles, () => names.forEach((p) => readFileSync(p)));
  return [
    { metric: 'write_16k_files', value: write, unit: 'files/s' },
    { metric: 'read_16k_files', value: read, unit: 'files/s' },
  ];
}

/** A tree like a source checkout: nested directories, mostly small files, a few larger ones. */
export function makeTarball(work: string, entries: number): Promise<string> {
  const root = join(work, 'tree');
  let made = 0;
  for (let d = 0; made < entries; d++) {
    const dir = join(root, `pkg${d % 40}`, `mod${d}`);
    mkdirSync(dir, { recursive: true });
    made++;
    for (let f = 0; f < 12 && made < entries; f++, made++) {
      const size = f === 0 ? 64 * 1024 : 200 + ((d * 31 + f * 977) % 6000);
      writeFileSync(join(dir, `file${f}.txt`), Buffer.alloc(size, 97 + (f % 26)));
    }
  }
  const tarball = join(work, 'tree.tar');
  return runCmd('tar', ['-cf', tarball, '-C', work, 'tree']).then(() => tarball);
}

export async function untar(dir: string, tarball: string): Promise<Figure[]> {
  const t0 = process.hrtime.bigint();
  await runCmd('tar', ['-xf', tarball, '-C', dir]);
  await runCmd('sync', []);
  return [{ metric: 'untar', value: Number(process.hrtime.bigint() - t0) / 1e9, unit: 's', lowerIsBetter: true }];
}

const WORKLOADS: [string, (dir: string, s: Sizes, tarball: string) => Promise<Figure[]>][] = [
  ['seq', (d, s) => sequential(d, s)],
  ['rand', (d, s) => random4k(d, s)],
  ['files', (d, s) => emptyFiles(d, s)],
  ['small', (d, s) => smallFiles(d, s)],
  ['untar', (d, _s, tarball) => untar(d, tarball)],
];

/**
 * Runs the workloads named in `only` (all when absent) in `dir` on one target, logging each figure
 * as `<prefix>: <target>: <metric> <value> <unit>`. rand runs on seq's file, so seq comes with it.
 */
export async function runWorkloads(target: string, dir: string, tarball: string, sizes: Sizes, only: string[] | undefined, log: (s: string) => void, prefix: string): Promise<Map<string, Figure>> {
  const out = new Map<string, Figure>();
  for (const [name, fn] of WORKLOADS) {
    if (only && !only.includes(name) && !(name === 'seq' && only.includes('rand'))) continue;
    // Random I/O runs on the sequential workload's file, so both share a directory.
    const sub = join(dir, name === 'rand' ? 'seq' : name);
    mkdirSync(sub, { recursive: true });
    log(`${prefix}: ${target}: ${name} ...`);
    for (const f of await fn(sub, sizes, tarball)) {
      out.set(f.metric, f);
      log(`${prefix}: ${target}: ${f.metric} ${f.value.toFixed(1)} ${f.unit}`);
    }
  }
  return out;
}
