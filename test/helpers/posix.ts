// Where the POSIX suite runs, and the small helpers its tests share. The suite runs against any
// directory: TIDEFS_POSIX_TARGET=local gives a temp dir on the local disk (where every test must
// pass: a test that fails on ext4 is wrong), anything else a fresh 3-node tidefs cluster and a mount.
import type { Test } from 'tap';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stopSys } from './posix-sys.js';

export type PosixKind = 'local' | 'tidefs';
export interface PosixTarget { dir: string; kind: PosixKind }

/** pjdfstest's unprivileged identities: numbers only, no accounts needed. */
export const UID_A = 65534, GID_A = 65534, UID_B = 65533, GID_B = 65533, GID_C = 65532;
export const NAME_TOO_LONG = 'x'.repeat(256); // NAME_MAX is 255 bytes
export const NAME_LONGEST = 'y'.repeat(255);

export interface MountHandle { dir: string; pid: number; unmount(): Promise<void> }
type StartCluster = (t: Test, opts?: { nodes?: number }) => Promise<{ urls: string[]; stop(): Promise<void> }>;
type MountFs = (t: Test, urls: string[], opts?: { strict?: boolean }) => Promise<MountHandle>;

// Variables, not literals, so that the suite compiles before the helpers exist.
const CLUSTER_HELPER = './cluster.js';
const MOUNT_HELPER = './mount.js';

async function importHelper<T>(path: string, name: string): Promise<T> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(path)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`tidefs target: cannot load test/helpers/${path.replace('./', '').replace('.js', '.ts')} ` +
      `(${(e as Error).message}). Set TIDEFS_POSIX_TARGET=local to run the suite on the local disk.`);
  }
  if (typeof mod[name] !== 'function') throw new Error(`tidefs target: test/helpers/${path} exports no ${name}()`);
  return mod[name] as T;
}

/** The cluster and mount helpers, or a clear error when they are missing. */
export async function loadTidefsHelpers(): Promise<{ startCluster: StartCluster; mountFs: MountFs }> {
  return {
    startCluster: await importHelper<StartCluster>(CLUSTER_HELPER, 'startCluster'),
    mountFs: await importHelper<MountFs>(MOUNT_HELPER, 'mountFs'),
  };
}

/** Mounts a cluster so that the unprivileged users of the tests can reach the mount. */
export async function mountReachable(t: Test, mountFs: MountFs, urls: string[], strict: boolean): Promise<MountHandle> {
  const mount = await mountFs(t, urls, { strict });
  // mountFs puts the mountpoint in a mkdtemp directory (mode 0700): the unprivileged users of the
  // tests could not reach the mount at all.
  chmodSync(dirname(mount.dir), 0o755);
  return mount;
}

/** Starts a 3-node cluster and mounts it (strict when TIDEFS_POSIX_STRICT=1); both torn down by t. */
export async function mountTidefs(t: Test, strict = process.env.TIDEFS_POSIX_STRICT === '1'): Promise<MountHandle & { stopAll(): Promise<void> }> {
  const { startCluster, mountFs } = await loadTidefsHelpers();
  const cluster = await startCluster(t, { nodes: 3 });
  try {
    const mount = await mountReachable(t, mountFs, cluster.urls, strict);
    return { ...mount, stopAll: async () => { await mount.unmount(); await cluster.stop(); } };
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

/**
 * The directory a test file works in, fresh and empty, mode 0755 so that the unprivileged users of
 * the tests can reach it; removed in teardown (registered last, so it runs before the unmount).
 */
export async function posixTarget(t: Test): Promise<PosixTarget> {
  const kind: PosixKind = process.env.TIDEFS_POSIX_TARGET === 'local' ? 'local' : 'tidefs';
  let dir: string;
  if (kind === 'local') {
    dir = mkdtempSync(join(tmpdir(), 'tidefs-posix-'));
  } else {
    // A throw at the top level of a test file ends the process before tap runs its teardowns:
    // stop what was started here before letting it through.
    const mount = await mountTidefs(t);
    try {
      dir = mkdtempSync(join(mount.dir, 'posix-'));
    } catch (e) {
      await mount.stopAll();
      throw new Error(`tidefs target: cannot make a directory in the fresh mount ${mount.dir}: ${(e as Error).message}`);
    }
  }
  chmodSync(dir, 0o755);
  t.comment(`posix target: ${kind} ${dir}`);
  t.teardown(() => {
    stopSys();
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      t.comment(`cleanup of ${dir} failed: ${(e as Error).message}`);
    }
  });
  return { dir, kind };
}

let serial = 0;
/** A fresh subdirectory (mode 0755) for one subtest. */
export function freshDir(target: PosixTarget, label = 'd'): string {
  const d = join(target.dir, `${++serial}-${label.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}`);
  mkdirSync(d, 0o755);
  chmodSync(d, 0o755); // the umask may have narrowed it
  return d;
}

/** 'OK' if fn succeeds, else the errno name of its failure (rethrows what is not a system error). */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw e;
    return code;
  }
}

export async function errnoOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return 'OK';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw e;
    return code;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Long enough for the clock behind timestamps to move (kernel coarse clock ticks are ≤ 10 ms). */
export const TICK_MS = Number(process.env.TIDEFS_POSIX_TICK_MS ?? 30);

export interface Times { atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint }
export function timesOf(p: string): Times {
  const s = lstatSync(p, { bigint: true });
  return { atimeNs: s.atimeNs, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs };
}

export interface TimeChange { mtime: boolean; ctime: boolean }
/**
 * Runs fn between two lstats of each path (a tick apart) and tells, per path, whether mtime and
 * ctime moved forward. A path that fn removes reports its state before (use a link to observe it).
 */
export async function timeChanges(paths: string[], fn: () => unknown): Promise<TimeChange[]> {
  const before = paths.map(timesOf);
  await sleep(TICK_MS);
  await fn();
  return paths.map((p, i) => {
    const after = timesOf(p);
    return { mtime: after.mtimeNs > before[i].mtimeNs, ctime: after.ctimeNs > before[i].ctimeNs };
  });
}

export const modeOf = (p: string) => lstatSync(p).mode & 0o7777;

/** A one-byte file `name` in `dir`, owned by uid:gid, with `mode` if given: the usual permission-test setup. */
export function ownedFile(dir: string, uid: number, gid: number, mode?: number, name = 'f'): string {
  const f = join(dir, name);
  writeFileSync(f, 'x');
  chownSync(f, uid, gid);
  if (mode !== undefined) chmodSync(f, mode);
  return f;
}
export const nlinkOf = (p: string) => lstatSync(p).nlink;
