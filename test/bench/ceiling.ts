import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeDir, runCmd } from './processes.js';
import { FULL, makeTarball, QUICK, runWorkloads, type Figure, type Sizes } from './workloads.js';

/**
 * `node dist/test/bench/ceiling.js [--quick] [--only=seq,rand,files,small,untar]` (scripts/bench-ceiling):
 * the bench workloads on a local directory and on an in-memory FUSE file system (memfs.ts) mounted
 * with tidefs's own binding and mount options, in the same run. The memfs ratio is the ceiling of any
 * file system built as tidefs is (libfuse 2.9 high-level API, one Node.js thread) on this machine,
 * before any network, replication or fsync. Lines: `ceiling_<metric> value unit ratio`.
 * `--discard`: memfs keeps no file bytes (memfs.ts says why), lines `ceiling_discard_<metric>`.
 */
const args = process.argv.slice(2);
const sizes: Sizes = args.includes('--quick') ? QUICK : FULL;
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const discard = args.includes('--discard');
const prefix = discard ? 'ceiling_discard_' : 'ceiling_';
const log = (s: string) => process.stderr.write(`${s}\n`);
const here = dirname(fileURLToPath(import.meta.url));

function runAll(target: string, dir: string, tarball: string): Promise<Map<string, Figure>> {
  return runWorkloads(target, dir, tarball, sizes, only, log, 'ceiling');
}

function mounted(mnt: string): boolean {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt);
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'tidefs-ceiling-'));
  let child: ChildProcess | undefined;
  const mnt = join(work, 'mnt');
  try {
    const tarball = await makeTarball(work, sizes.tarEntries);
    const local = join(work, 'local');
    mkdirSync(local);
    const localFigures = await runAll('local', local, tarball);
    removeDir(local);
    mkdirSync(mnt);
    const out = openSync(join(work, 'memfs.log'), 'a');
    child = spawn(process.execPath, [join(here, 'memfs.js'), mnt, ...(discard ? ['--discard'] : [])], { stdio: ['ignore', out, out] });
    for (let i = 0; i < 150 && !mounted(mnt); i++) await new Promise((r) => setTimeout(r, 200));
    if (!mounted(mnt)) throw new Error(`memfs did not mount at ${mnt}: ${readFileSync(join(work, 'memfs.log'), 'utf8')}`);
    const memFigures = await runAll('memfs', mnt, tarball);
    console.log(`# metric value unit ratio   (ceiling = in-memory FUSE 2 file system${discard ? ' keeping no file bytes' : ''}, ratio ÷ local disk, same run)`);
    for (const [metric, f] of memFigures) {
      const base = localFigures.get(metric)!;
      console.log(`${prefix}${metric} ${f.value.toFixed(2)} ${f.unit} ${(f.value / base.value).toFixed(3)}`);
      console.log(`local_${metric} ${base.value.toFixed(2)} ${f.unit} 1.000`);
    }
    return 0;
  } finally {
    if (mounted(mnt)) await runCmd('fusermount', ['-u', mnt]).catch(() => runCmd('fusermount', ['-uz', mnt]).catch(() => {}));
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await new Promise((r) => setTimeout(r, 100));
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    removeDir(work);
  }
}

main().then((c) => process.exit(c), (e) => {
  log(`ceiling: failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
