// System calls Node lacks, and operations as another user, through one python3 worker per test
// process (see posix-worker-source.ts). Every call answers 'OK', a value, or an errno name.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { PY_WORKER_SOURCE } from './posix-worker-source.js';

/** One operation: [name, ...args]; an argument {$: i} stands for the result of operation i. */
export type SysOp = [string, ...unknown[]];
export interface Cred { uid: number; gid: number; groups?: number[] }
/** A value returned by the worker; byte strings come back as {hex}. */
export type SysValue = unknown;

interface Reply { id: number; ok?: SysValue; errno?: string; at?: number; fatal?: string }

let worker: ReturnType<typeof startWorker> | null = null;
let nextId = 1;

function startWorker() {
  const proc = spawn('python3', ['-u', '-c', PY_WORKER_SOURCE], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = new Map<number, (r: Reply) => void>();
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const r = JSON.parse(line) as Reply;
    waiting.get(r.id)?.(r);
    waiting.delete(r.id);
  });
  proc.on('exit', () => {
    for (const w of waiting.values()) w({ id: 0, fatal: 'python3 worker exited' });
    worker = null;
  });
  // The worker exits on EOF of stdin; unref lets the test process end without waiting for it.
  proc.unref();
  (proc.stdin as unknown as { unref?: () => void }).unref?.();
  (proc.stdout as unknown as { unref?: () => void }).unref?.();
  return { proc, waiting };
}

process.on('exit', () => worker?.proc.kill());

/** Stops the worker (tests call it from teardown). */
export function stopSys(): void {
  worker?.proc.stdin.end();
  worker?.proc.kill();
  worker = null;
}

/** Runs ops in order, as cred when given; answers the last result, or the first failure's errno name. */
export function sysRun(ops: SysOp[], cred?: Cred): Promise<SysValue> {
  worker ??= startWorker();
  const w = worker;
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      w.waiting.delete(id);
      reject(new Error(`python3 worker: no reply in 30 s to ${JSON.stringify(ops)}`));
    }, 30_000);
    w.waiting.set(id, (r) => {
      clearTimeout(timer);
      if (r.fatal) reject(new Error(`python3 worker: ${r.fatal} running ${JSON.stringify(ops)}`));
      else if (r.errno) resolve(r.errno);
      else resolve(r.ok === null || r.ok === undefined ? 'OK' : r.ok);
    });
    w.proc.stdin.write(JSON.stringify({ id, cred: cred ?? null, ops }) + '\n');
  });
}

/** One system call as root, through the worker. */
export function sys(name: string, ...args: unknown[]): Promise<SysValue> {
  return sysRun([[name, ...args]]);
}

/**
 * Runs ops as uid/gid (supplementary groups none unless given) in a forked child of the worker;
 * answers 'OK' or the last result, or the errno name of the first operation that failed.
 */
export function asUser(uid: number, gid: number, ...ops: SysOp[]): Promise<SysValue> {
  return sysRun(ops, { uid, gid });
}

export function asUserGroups(cred: Cred, ...ops: SysOp[]): Promise<SysValue> {
  return sysRun(ops, cred);
}

/** A byte string for write/setxattr. */
export const hex = (b: Buffer | string): { hex: string } => ({ hex: Buffer.from(b).toString('hex') });
/** Decodes a {hex} reply; an errno name passes through as a string. */
export function bytes(v: SysValue): Buffer | string {
  if (v && typeof v === 'object' && 'hex' in v) return Buffer.from((v as { hex: string }).hex, 'hex');
  return String(v);
}

export interface PyStat {
  mode: number; ino: number; nlink: number; uid: number; gid: number; size: number; rdev: number;
  blocks: number; atime_ns: string; mtime_ns: string; ctime_ns: string;
}
