import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/free-port.js';
import { withMallocTunables } from '../../shared/malloc-tunables.js';
import { NODE_HEAP_FLAGS } from '../../storagenode/heap-flags.js';

/**
 * Starts a real cluster and a real mount as child processes through the `tidefs` CLI, for the
 * benchmark (tests use test/helpers/ instead, which tie cleanup to tap). Everything started here is
 * recorded and stopped by PID in stopAll(), also on SIGINT.
 */
const outDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const repo = resolve(outDir, '..');
const cli = join(repo, 'bin', 'tidefs');
/** bin/tidefs runs the tree named by TIDEFS_DIST: the one this file was compiled into, so any outDir works. */
const cliEnv = withMallocTunables({ ...process.env, TIDEFS_DIST: relative(repo, outDir) });
/** The client's own entry, which exits once unmounted (bin/tidefs leaves the process to linger: it only sets exitCode). */
const clientMain = join(outDir, 'client', 'main.js');
const started: ChildProcess[] = [];
const roles = new Map<ChildProcess, string>();
const mounts: string[] = [];
const clusterDirs: string[] = [];

/** The processes started here that still run, by role ("n1".., "client", "client2"..), for RSS sampling. */
export function runningProcs(): { role: string; pid: number }[] {
  return started.filter((c) => c.exitCode === null && c.signalCode === null && c.pid !== undefined)
    .map((c) => ({ role: roles.get(c) ?? '?', pid: c.pid! }));
}


export interface BenchCluster {
  urls: string[];
  dir: string;
}

export async function startCluster(nodes: number, log: (s: string) => void): Promise<BenchCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tidefs-bench-'));
  clusterDirs.push(dir);
  const ports = await Promise.all(Array.from({ length: nodes }, () => freePort()));
  const ids = ports.map((_, i) => `n${i + 1}`);
  const urls = ports.map((p) => `ws://127.0.0.1:${p}`);
  const peers = ids.map((id, i) => `${id}=${urls[i]}`).join(',');
  // PROBE_STORAGE_ARGS: node/V8 flags for the storage nodes (profiling: --cpu-prof, --trace-gc, heap sizes).
  const nodeArgs = (process.env.PROBE_STORAGE_ARGS ?? '').split(' ').filter(Boolean);
  for (let i = 0; i < nodes; i++) {
    const out = openSync(join(dir, `${ids[i]}.log`), 'a');
    const child = spawn(process.execPath, [...NODE_HEAP_FLAGS, ...nodeArgs, cli, 'node', '--id', ids[i]!, '--listen', `127.0.0.1:${ports[i]}`, '--data', join(dir, ids[i]!), '--peers', peers], {
      stdio: ['ignore', out, out], env: cliEnv,
    });
    started.push(child);
    roles.set(child, ids[i]!);
  }
  log(`bench: started ${nodes} nodes (${urls.join(', ')}), logs in ${dir}`);
  await waitFor(async () => (await runCli(['status', urls.join(',')])).includes('leader'), 30_000, 'a leader to be elected');
  return { urls, dir };
}

export async function mount(urls: string[], mnt: string, log: (s: string) => void, extra: string[] = [], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<void> {
  const out = openSync(`${mnt}.log`, 'a');
  const child = spawn(process.execPath, [...nodeArgs, clientMain, 'mount', urls.join(','), mnt, '--foreground', ...extra], { stdio: ['ignore', out, out], env: { ...cliEnv, ...env } });
  started.push(child);
  const clients = [...roles.values()].filter((r) => r.startsWith('client')).length;
  roles.set(child, clients ? `client${clients + 1}` : 'client');
  mounts.push(mnt);
  await waitFor(async () => readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt), 30_000, `the mount at ${mnt}`);
  log(`bench: mounted at ${mnt}`);
}

export async function stopAll(): Promise<void> {
  for (const m of mounts.splice(0)) await runCmd('fusermount', ['-u', m]).catch(() => runCmd('fusermount', ['-uz', m]).catch(() => {}));
  const stopping = started.splice(0);
  for (const c of stopping) if (c.exitCode === null) c.kill('SIGTERM');
  // Up to 5 s to exit cleanly (a client flushes, and writes its --cpu-prof profile on exit).
  for (let i = 0; i < 50 && stopping.some((c) => c.exitCode === null && c.signalCode === null); i++) await new Promise((r) => setTimeout(r, 100));
  for (const c of stopping) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of stopping) roles.delete(c);
}

/**
 * Stops everything started here (by PID, mounts unmounted) when this process is interrupted or
 * terminated, then exits 128+signal. `also` runs first (e.g. to stop a sampler or remove a work dir).
 */
export function stopOnSignals(also: () => void = () => {}): void {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(sig, () => {
      process.stderr.write(`${sig}: stopping the cluster and mounts\n`);
      void stopAll().finally(() => {
        try { also(); } catch { /* best effort on the way out */ }
        process.exit(code);
      });
    });
  }
}

/**
 * Removes the directories of the clusters started here (call after stopAll). With keepLogs (after a
 * failure) only the nodes' data goes and their logs stay; returns the directories kept.
 */
export function removeClusters(keepLogs: boolean): string[] {
  const dirs = clusterDirs.splice(0);
  for (const d of dirs) {
    if (!keepLogs) removeDir(d);
    else for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) removeDir(join(d, e.name));
  }
  return keepLogs ? dirs : [];
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export async function runCmd(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('error', rej);
    c.on('close', (code) => (code === 0 ? res(out) : rej(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

function runCli(args: string[]): Promise<string> {
  return runCmd(process.execPath, [cli, ...args], { env: cliEnv }).catch(() => '');
}

async function waitFor(cond: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
