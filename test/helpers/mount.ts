import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withMallocTunables } from '../../shared/malloc-tunables.js';
import { TEST_CLUSTER_ID, type TestLike } from './cluster.js';

/** The compiled client entry, found relative to this file so tests run from any outDir. */
export const CLIENT_MAIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'client', 'main.js');

export interface MountHandle {
  dir: string; // the mountpoint
  pid: number; // the client process
  logFile: string;
  /** Unmounts and stops the client; safe to call more than once (teardown calls it too). Resolves with its log. */
  unmount(): Promise<string>;
}

/**
 * Requests per op the client sent over its life, from the line it logs at unmount
 * (`requests sent: op=count ...`, client/cli/run-mount.ts); absent ops are 0.
 */
export function requestsSent(log: string): { count(op: string): number; line: string } {
  const found = log.split('\n').reverse().find((l) => l.includes('requests sent: '));
  if (found === undefined) throw new Error('the client log has no "requests sent" line');
  const line = found.slice(found.indexOf('requests sent: ') + 15);
  const counts = new Map([...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  return { count: (op) => counts.get(op) ?? 0, line };
}

export interface MountFsOptions {
  strict?: boolean;
  cluster?: string;
  /** Extra client flags, e.g. ['--debug']. */
  args?: string[];
  /** How long to wait for the mount to appear. */
  timeoutMs?: number;
}

export function isMounted(dir: string): boolean {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fusermount(args: string[]): boolean {
  for (const bin of ['fusermount', 'fusermount3']) {
    const r = spawnSync(bin, args, { stdio: 'ignore' });
    if (!r.error) return r.status === 0;
  }
  return false;
}

async function stop(child: ChildProcess, dir: string): Promise<void> {
  if (isMounted(dir) && !fusermount(['-u', dir])) fusermount(['-uz', dir]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await sleep(100);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  if (isMounted(dir)) fusermount(['-uz', dir]);
}

/**
 * Mounts the cluster at `urls` on a fresh temp directory by running the real client process
 * (`client/main.js mount ... --foreground`), waits until /proc/mounts lists it, and registers a
 * teardown that unmounts (fusermount -u, then -uz) and stops the process by PID, also on failure.
 */
export async function mountFs(t: TestLike, urls: string[], opts: MountFsOptions = {}): Promise<MountHandle> {
  const base = mkdtempSync(join(tmpdir(), 'tidefs-mnt-'));
  chmodSync(base, 0o755); // other users (pjdfstest's uids) must reach the mountpoint
  const dir = join(base, 'mnt');
  mkdirSync(dir);
  const logFile = join(base, 'client.log');
  const out = openSync(logFile, 'a');
  const args = [CLIENT_MAIN, 'mount', urls.join(','), dir, '--foreground', '--cluster', opts.cluster ?? TEST_CLUSTER_ID,
    ...(opts.strict ? ['--strict'] : []), ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', out, out], env: withMallocTunables({ ...process.env, TIDEFS_EXIT_WITH_PARENT: '1' }) });
  closeSync(out);
  let stopped: Promise<string> | null = null;
  const unmount = () => (stopped ??= stop(child, dir).then(() => {
    const text = readFileSync(logFile, 'utf8');
    if (t.passing?.() === false) t.comment?.(`client log kept at ${logFile}`);
    else rmSync(base, { recursive: true, force: true });
    return text;
  }));
  t.teardown(unmount);
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (!isMounted(dir)) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n');
      await unmount();
      throw new Error(`mountFs: the client did not mount ${dir} (exit ${child.exitCode ?? child.signalCode ?? 'timeout'}):\n${tail}`);
    }
    await sleep(50);
  }
  return { dir, pid: child.pid!, logFile, unmount };
}
