import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLines } from '../bench/machine.js';
import { mount, removeClusters, removeDir, runningProcs, startCluster, stopAll, stopOnSignals } from '../bench/processes.js';
import { CLIENT_RSS_LIMIT_MB, cpuMs, NODE_RSS_LIMIT_MB, RssSampler } from '../bench/rss.js';
import { dropCaches, fio } from '../bench/workloads.js';
import { dataByte, fileName, pick, rng, split } from './names.js';

/**
 * The scale and memory soak (`scripts/soak --files`, docs/perf-soak.md), through a real mount on a real
 * 3-node cluster (R=3):
 * 1. writes one file of --write-gib GiB (fio, 1 MiB writes, fsync at the end) on the fresh mount and
 *    checks the peak RSS (VmHWM) of the client (<= 300 MB) and of each node (<= 600 MB);
 * 2. fills ONE directory to each of --sizes entries (default 10,000 then 100,000; several creator
 *    processes fill, see fill.ts) and at each size measures, on samples of --sample ops: create, stat of
 *    random names, lookup of absent names, a full readdir, open+read of 4 KiB files (--read-sample of
 *    them, never one read before) and delete of random names; each figure is the median of --rounds rounds (default 3) over
 *    parts of the sample. Page, dentry and inode caches are dropped before each round of stat, readdir
 *    and read, so those go to the file system.
 * Output: `metric value unit` lines for each size, `<metric>_ratio value x` (largest size ÷ smallest:
 * every figure is a rate, so below 1 means slower in the bigger directory), and PASS/FAIL lines; the
 * exit code is 1 when any check fails. Lines starting with `#` are comments; progress goes to stderr.
 */
interface Options {
  sizes: number[];
  sample: number;
  readSample: number;
  creators: number;
  concurrency: number;
  dataEvery: number;
  writeMiB: number;
  minRatio: number;
  rounds: number;
  seed: number;
}

function parseOptions(args: string[]): Options {
  const get = (name: string, dflt: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
  const o: Options = {
    sizes: get('sizes', '10000,100000').split(',').filter(Boolean).map(Number),
    sample: Number(get('sample', '2000')),
    readSample: Number(get('read-sample', '300')),
    creators: Number(get('creators', '4')),
    concurrency: Number(get('concurrency', '4')),
    dataEvery: Number(get('data-every', '20')),
    writeMiB: Math.round(Number(get('write-gib', '4')) * 1024),
    minRatio: Number(get('min-ratio', '0.5')),
    rounds: Number(get('rounds', '3')),
    seed: Number(get('seed', String(Date.now() % 1_000_000))),
  };
  const bad = Object.entries(o).find(([, v]) => (Array.isArray(v) ? v.some((x) => !(x > 0)) : !(v >= 0)));
  if (bad || !(o.rounds >= 1)) throw new Error(`bad option --${bad?.[0] ?? 'rounds'}`);
  for (let k = 0; k < o.sizes.length; k++) {
    if (o.sizes[k]! < 2 * o.sample + (k ? o.sizes[k - 1]! : 0)) throw new Error('each size must exceed the previous one by two samples');
  }
  return o;
}

const opts = parseOptions(process.argv.slice(2));
const here = dirname(fileURLToPath(import.meta.url));
const log = (s: string) => process.stderr.write(`soak: ${s}\n`);
const out = (s: string) => console.log(s);
const failures: string[] = [];
const workers = new Set<ChildProcess>();

function figure(metric: string, value: number, unit: string): void {
  out(`${metric} ${value.toFixed(2)} ${unit}`);
}

/** `PASS|FAIL metric value unit op limit`; a FAIL makes the exit code 1. */
function check(metric: string, value: number, unit: string, op: '<=' | '>=', limit: number): void {
  const ok = op === '<=' ? value <= limit : value >= limit;
  const line = `${ok ? 'PASS' : 'FAIL'} ${metric} ${value.toFixed(2)} ${unit} ${op} ${limit}`;
  out(line);
  if (!ok) failures.push(line);
}

function rate(n: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** CPU ms used so far by each process of the cluster and the mount. */
function cpuNow(): Map<string, number> {
  return new Map(runningProcs().map((p) => [p.role, cpuMs(p.pid) ?? 0]));
}

/** CPU µs the cluster and the mount used since `before` (cpuNow()), per process and in all. */
function cpuSince(before: Map<string, number>): { total: number; per: [string, number][] } {
  const per = [...cpuNow()].map(([role, ms]): [string, number] => [role, (ms - (before.get(role) ?? ms)) * 1000]);
  return { total: per.reduce((a, [, us]) => a + us, 0), per };
}

/** A rate (ops/s) and the CPU the cluster and the mount spent per op (µs, all processes but the soak's own). */
interface Measured {
  rate: number;
  cpuUs: number;
  /** cpuUs by process role. */
  cpuBy: Map<string, number>;
}

/** Runs the creators on [from, to) in parallel; files/s over all of them, CPU per file. */
async function fill(dir: string, from: number, to: number): Promise<Measured> {
  const t0 = process.hrtime.bigint();
  const cpu0 = cpuNow();
  const script = join(here, 'fill.js');
  await Promise.all(split(from, to, opts.creators).map(([a, b]) => new Promise<void>((res, rej) => {
    const c = spawn(process.execPath, [script, dir, String(a), String(b), String(opts.dataEvery), String(opts.concurrency)], { stdio: ['ignore', 'inherit', 'inherit'] });
    workers.add(c);
    c.on('error', rej);
    c.on('exit', (code) => {
      workers.delete(c);
      if (code === 0) res();
      else rej(new Error(`creator ${a}..${b} exited ${code}`));
    });
  })));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSince(cpu0);
  const n = to - from;
  out(`# filling ${from}..${to}: ${(n / seconds) | 0} files/s, CPU per file ${(cpu.total / n / 1000).toFixed(2)} ms ` +
    `(${cpu.per.map(([r, us]) => `${r} ${(us / n / 1000).toFixed(2)}`).join(', ')}; the creators' own CPU not counted)`);
  return { rate: n / seconds, cpuUs: cpu.total / n, cpuBy: new Map(cpu.per.map(([r, us]) => [r, us / n])) };
}

/** What the directory holds: creator files f0..f<next-1> minus `deleted`, plus `extra` sample files. */
interface DirState {
  dir: string;
  next: number;
  deleted: Set<number>;
  extra: number;
  /** Data files read at a smaller size: not read again (the client may still cache them). */
  read: Set<number>;
}

/**
 * Median of `rounds` rates, each over its share of `items` (so one burst of load skews one round
 * only), and the CPU per item over all rounds (CPU time hardly depends on how busy the machine is).
 */
async function rounds<T>(items: T[], before: () => Promise<void>, fn: (item: T) => void): Promise<Measured> {
  const per = Math.ceil(items.length / opts.rounds);
  const rates: number[] = [];
  let cpuUs = 0;
  const cpuBy = new Map<string, number>();
  for (let k = 0; k < items.length; k += per) {
    const part = items.slice(k, k + per);
    await before();
    const cpu0 = cpuNow();
    rates.push(rate(part.length, () => part.forEach(fn)));
    const cpu = cpuSince(cpu0);
    cpuUs += cpu.total;
    for (const [r, us] of cpu.per) cpuBy.set(r, (cpuBy.get(r) ?? 0) + us);
  }
  rates.sort((x, y) => x - y);
  for (const [r, us] of cpuBy) cpuBy.set(r, us / items.length);
  return { rate: rates[Math.floor(rates.length / 2)]!, cpuUs: cpuUs / items.length, cpuBy };
}

/** A figure of one size: `unit` of the rate; CPU is per `per` (e.g. per file, per entry). */
type Figures = Map<string, Measured & { unit: string; per: string }>;

const noop = async () => {};

async function measureAt(st: DirState, size: number, random: () => number): Promise<Figures> {
  const { dir, sample } = { dir: st.dir, sample: opts.sample };
  const fig: Figures = new Map();
  const files = (m: Measured) => ({ ...m, unit: 'files/s', per: 'file' });
  const count = () => st.next - st.deleted.size + st.extra;
  const need = size - sample - count();
  log(`filling to ${size - sample} entries (${need} new, ${opts.creators} creators x ${opts.concurrency})`);
  fig.set('fill', files(await fill(dir, st.next, st.next + need)));
  st.next += need;

  log(`${size}: create, stat, absent lookup, readdir, read, delete (samples of ${sample}, median of ${opts.rounds} rounds)`);
  const seq = Array.from({ length: sample }, (_, j) => j);
  fig.set('create', files(await rounds(seq, noop, (j) => closeSync(openSync(join(dir, `c${size}_${j}`), 'wx')))));
  st.extra += sample;
  if (count() !== size) throw new Error(`bookkeeping: ${count()} entries, expected ${size}`);

  const live = (i: number) => !st.deleted.has(i);
  const statNames = pick(random, st.next, sample, live).map((i) => join(dir, fileName(i)));
  fig.set('stat', files(await rounds(statNames, dropCaches, (p) => statSync(p))));

  const absent = await rounds(seq, noop, (j) => {
    if (statSync(join(dir, `x${size}_${j}`), { throwIfNoEntry: false })) throw new Error(`x${size}_${j} exists`);
  });
  fig.set('lookup_absent', { ...absent, unit: 'lookups/s', per: 'lookup' });

  // A full listing per round: the rate is entries/s (the time per entry is its inverse).
  const listing = await rounds(Array.from({ length: opts.rounds }, () => 0), dropCaches, () => {
    const listed = readdirSync(dir).length;
    if (listed !== size) throw new Error(`readdir listed ${listed} entries, expected ${size}`);
  });
  const perEntry = new Map([...listing.cpuBy].map(([r, us]) => [r, us / size]));
  fig.set('readdir', { rate: listing.rate * size, cpuUs: listing.cpuUs / size, cpuBy: perEntry, unit: 'entries/s', per: 'entry' });

  const reads = pick(random, st.next, opts.readSample, (i) => i % opts.dataEvery === 0 && live(i) && !st.read.has(i));
  for (const i of reads) st.read.add(i);
  fig.set('read_4k', files(await rounds(reads, dropCaches, (i) => {
    const b = readFileSync(join(dir, fileName(i)));
    if (b.length !== 4096 || b[0] !== dataByte(i) || b[4095] !== dataByte(i)) throw new Error(`${fileName(i)}: wrong contents`);
  })));

  const dels = pick(random, st.next, sample, (i) => i % opts.dataEvery !== 0 && live(i));
  fig.set('delete', files(await rounds(dels, noop, (i) => {
    unlinkSync(join(dir, fileName(i)));
    st.deleted.add(i);
  })));
  for (const [m, f] of fig) {
    const by = [...f.cpuBy].sort().map(([r, us]) => `${r} ${us.toFixed(0)}`).join(', ');
    out(`# ${size} ${m}: ${f.rate.toFixed(1)} ${f.unit}, CPU ${f.cpuUs.toFixed(0)} us per ${f.per} (${by})`);
  }
  return fig;
}

async function filesPhase(mnt: string): Promise<void> {
  const dir = join(mnt, 'many');
  mkdirSync(dir);
  const random = rng(opts.seed);
  const st: DirState = { dir, next: 0, deleted: new Set(), extra: 0, read: new Set() };
  const bySize: Figures[] = [];
  for (const size of opts.sizes) {
    const t0 = Date.now();
    const load0 = loadavg()[0]!;
    bySize.push(await measureAt(st, size, random));
    out(`# ${size} entries: measured at load ${load0.toFixed(2)} .. ${loadavg()[0]!.toFixed(2)} (1 min), ${((Date.now() - t0) / 1000).toFixed(0)} s with the fill`);
    log(`${size}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  }
  const small = opts.sizes[0]!;
  const large = opts.sizes[opts.sizes.length - 1]!;
  const last = bySize[bySize.length - 1]!;
  out(`# one directory at ${opts.sizes.join(' and ')} entries; <metric>_ratio = figure at ${large} / figure at ${small} (rates: below 1 is slower)`);
  for (const [metric, f] of bySize[0]!) {
    opts.sizes.forEach((size, k) => figure(`dir_${metric}_${size}`, bySize[k]!.get(metric)!.rate, f.unit));
    figure(`dir_${metric}_ratio`, last.get(metric)!.rate / f.rate, 'x');
  }
  out(`# CPU of the cluster and the mount per op, µs (the soak's own not counted); _ratio above 1 is more CPU at ${large}`);
  for (const [metric, f] of bySize[0]!) {
    opts.sizes.forEach((size, k) => figure(`dir_${metric}_cpu_${size}`, bySize[k]!.get(metric)!.cpuUs, `us/${f.per}`));
    figure(`dir_${metric}_cpu_ratio`, last.get(metric)!.cpuUs / f.cpuUs, 'x');
  }
  if (opts.sizes.length > 1) for (const [metric, f] of bySize[0]!) check(`dir_${metric}_ratio`, last.get(metric)!.rate / f.rate, 'x', '>=', opts.minRatio);
}

/** Peak RSS lines and checks: client (only when `clientLimit`) and each node against its limit. */
function memoryFigures(prefix: string, sampler: RssSampler, clientLimit: boolean): void {
  sampler.sample();
  const mem = sampler.figures();
  const clients = mem.filter((m) => m.role.startsWith('client'));
  const nodes = mem.filter((m) => !m.role.startsWith('client'));
  figure(`${prefix}_client_rss_max`, Math.max(0, ...clients.map((m) => m.hwmMb)), 'MB');
  figure(`${prefix}_node_rss_max`, Math.max(0, ...nodes.map((m) => m.hwmMb)), 'MB');
  for (const m of mem) figure(`${prefix}_rss_max_${m.role}`, m.hwmMb, 'MB');
  if (clientLimit) for (const m of clients) check(`${prefix}_rss_max_${m.role}`, m.hwmMb, 'MB', '<=', CLIENT_RSS_LIMIT_MB);
  for (const m of nodes) check(`${prefix}_rss_max_${m.role}`, m.hwmMb, 'MB', '<=', NODE_RSS_LIMIT_MB);
}

async function writePhase(mnt: string, sampler: RssSampler): Promise<void> {
  const dir = join(mnt, 'big');
  mkdirSync(dir);
  log(`writing ${opts.writeMiB} MiB sequentially (fio, bs=1M, fsync at the end)`);
  const w = await fio(dir, ['--name=big', '--filename=big.dat', '--rw=write', '--bs=1M', `--size=${opts.writeMiB}m`, '--end_fsync=1']);
  const gib = opts.writeMiB / 1024;
  out(`# writing one ${gib} GiB file on a fresh mount; rss = VmHWM (peak since the process started), MB`);
  figure(`write_${gib}g_fsync`, w.bwBytes / 2 ** 20, 'MiB/s');
  memoryFigures('write', sampler, true);
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'tidefs-soak-work-'));
  let ok = false;
  // After a failure the logs stay (node logs in the cluster dir, the client's as mnt.log); data goes.
  const cleanup = () => {
    for (const c of workers) c.kill('SIGKILL');
    if (ok) removeDir(work);
    else removeDir(join(work, 'mnt'));
    const kept = removeClusters(!ok);
    if (!ok) log(`logs kept in ${[work, ...kept].join(' and ')}`);
  };
  stopOnSignals(cleanup);
  const sampler = new RssSampler(runningProcs, 500);
  const t0 = Date.now();
  try {
    for (const l of machineLines('start')) out(l);
    out(`# options ${JSON.stringify(opts)}`);
    const cluster = await startCluster(3, (s) => log(s.replace(/^bench: /, '')));
    const mnt = join(work, 'mnt');
    mkdirSync(mnt);
    await mount(cluster.urls, mnt, (s) => log(s.replace(/^bench: /, '')));
    sampler.start();
    if (opts.writeMiB > 0) await writePhase(mnt, sampler);
    if (opts.sizes.length) await filesPhase(mnt);
    out('# the whole soak: rss = VmHWM, MB');
    memoryFigures('soak', sampler, false);
    figure('soak_elapsed', (Date.now() - t0) / 1000, 's');
    for (const l of machineLines('end')) out(l);
    out(failures.length ? `# ${failures.length} check(s) failed` : '# all checks passed');
    ok = true; // the run completed: its logs are not needed even when a check failed
    return failures.length ? 1 : 0;
  } finally {
    sampler.stop();
    for (const c of workers) c.kill('SIGKILL');
    await stopAll();
    cleanup();
  }
}

main().then((c) => process.exit(c), (e) => {
  log(`failed: ${(e as Error).stack ?? e}`);
  void stopAll().then(() => process.exit(1));
});
