/**
 * The one door to fuse-native (patched: patches/fuse-native+2.2.6.patch). Loads the CommonJS module,
 * builds mount options, and names the numbers FUSE handlers trade in: lock commands, utimens
 * specials, and negative errnos for the project's Errno names.
 */
import { readFile, realpath, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import type FuseNative from 'fuse-native';
import { POSIX_ERRNOS, type Errno } from '../../shared/errno.js';
import { buildMountOptions, type MountOptions } from './mount-options.js';

export type { MountOptions } from './mount-options.js';
export { buildMountOptions, TIDEFS_MOUNT_DEFAULTS } from './mount-options.js';
export type Operations = FuseNative.Operations;
export type Stat = FuseNative.Stat;
export type Statfs = FuseNative.Statfs;
export type FileLock = FuseNative.FileLock;
export type TimeSpec = FuseNative.TimeSpec;
export type FuseTimeout = FuseNative.Options['timeout'];

const require = createRequire(import.meta.url);
/** The patched fuse-native class. */
export const Fuse: typeof FuseNative = require('fuse-native');

/**
 * Linux values, identical on x86_64 and arm64 (both use the asm-generic fcntl.h/flock numbers and
 * stat.h's UTIME_*). Checked against the values the native addon was compiled with, so a platform
 * where they differ fails here rather than mislabelling locks.
 */
export const F_GETLK = 5;
export const F_SETLK = 6;
export const F_SETLKW = 7;
export const F_RDLCK = 0;
export const F_WRLCK = 1;
export const F_UNLCK = 2;
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;
/** open/create reply bits (third callback argument). */
export const OPEN_DIRECT_IO = 1;
export const OPEN_KEEP_CACHE = 2;
export const OPEN_NONSEEKABLE = 4;

const expected = { F_GETLK, F_SETLK, F_SETLKW, F_RDLCK, F_WRLCK, F_UNLCK, LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN, UTIME_NOW, UTIME_OMIT };
for (const [name, value] of Object.entries(expected)) {
  const native = (Fuse.constants as unknown as Record<string, number> | undefined)?.[name];
  if (native !== value) {
    throw new Error(`fuse-native: ${name} is ${native} natively, ${value} here: is the patched addon built (npm ci runs scripts/postinstall.cjs)?`);
  }
}

/** Errno name → negative number for FUSE, from this OS's table (os.constants.errno). */
const ERRNO_NUMBERS: ReadonlyMap<Errno, number> = new Map(POSIX_ERRNOS.map((name) => {
  const n = (osConstants.errno as Record<string, number | undefined>)[name];
  if (n === undefined) throw new Error(`errno ${name} is unknown on this platform`);
  return [name, -n];
}));

/** The value a FUSE callback wants for an Errno name, e.g. fuseErrno('ENOENT') === -2 on Linux. */
export function fuseErrno(name: Errno): number {
  return ERRNO_NUMBERS.get(name)!;
}

/** The number is 0 (success) or maps back to a name; for logs and tests. */
export function errnoName(result: number): Errno | undefined {
  for (const [name, n] of ERRNO_NUMBERS) if (n === result) return name;
  return undefined;
}

export interface MountSettings {
  options?: MountOptions;
  /**
   * Per-op timeout in ms (fuse-native answers ETIMEDOUT after it): a number, false for none, or
   * { default, <op>: ms | false }. lock and flock never time out. Default: fuse-native's 15 s.
   */
  timeout?: FuseTimeout;
  /** Create the mount point if it is missing. */
  mkdir?: boolean;
}

/** A mounted (or mountable) file system with promise-shaped mount/unmount. */
export class FuseMount {
  readonly fuse: FuseNative;
  readonly options: readonly string[];

  constructor(readonly mountpoint: string, ops: Operations, settings: MountSettings = {}) {
    this.options = buildMountOptions(settings.options);
    const opts: FuseNative.Options = { mountOptions: [...this.options], mkdir: settings.mkdir ?? false };
    if (settings.timeout !== undefined) opts.timeout = settings.timeout;
    this.fuse = new Fuse(mountpoint, ops, opts);
  }

  /** Resolves once the kernel has sent INIT, i.e. the mount answers requests. */
  mount(): Promise<void> {
    return new Promise((resolve, reject) => this.fuse.mount((err) => (err ? reject(err) : resolve())));
  }

  /**
   * Drop the kernel's cached attributes of `ino` under all its names (and, with `data`, its cached
   * pages). Resolves with the number of kernel nodes reached; rejects only if the kernel refused.
   */
  invalidateInode(ino: number, data = false): Promise<number> {
    return new Promise((resolve, reject) => this.fuse.invalidateInode(ino, data ? 0 : -1, 0, (res, nodes) => {
      // ENOTCONN: not mounted (any more); nothing is cached then.
      if (res === 0 || res === -osConstants.errno.ENOTCONN) resolve(nodes);
      else reject(new Error(`kernel refused to invalidate inode ${ino}: ${errnoName(res) ?? res}`));
    }));
  }

  /** Drop the kernel's cached name `name` in directory `parentIno`. */
  invalidateEntry(parentIno: number, name: string): Promise<number> {
    return new Promise((resolve, reject) => this.fuse.invalidateEntry(parentIno, name, (res, nodes) => {
      if (res === 0 || res === -osConstants.errno.ENOTCONN) resolve(nodes);
      else reject(new Error(`kernel refused to invalidate ${parentIno}/${name}: ${errnoName(res) ?? res}`));
    }));
  }

  /** Put file data into the kernel's page cache of `ino` at `off`. Resolves with the kernel nodes reached. */
  storeData(ino: number, off: number, data: Buffer): Promise<number> {
    return new Promise((resolve, reject) => this.fuse.storeInode(ino, off, data, (res, nodes) => {
      if (res === 0 || res === -osConstants.errno.ENOTCONN) resolve(nodes);
      else reject(new Error(`kernel refused data for inode ${ino} at ${off}: ${errnoName(res) ?? res}`));
    }));
  }

  /** How many kernel nodes (names the kernel holds) the channel knows; -1 without the kernel view. */
  kernelNodes(): number {
    return this.fuse.kernelNodes();
  }

  /** While `on`, the unlock libfuse sends through the lock op on every flush is answered natively (no POSIX lock is held). */
  setUnlockFast(on: boolean): void {
    this.fuse.setUnlockFast(on);
  }

  /**
   * Sets the kernel's readahead for this mount (its bdi's read_ahead_kb) and resolves with the path
   * written. A FUSE mount starts at 128 KiB, and INIT can only lower it, so a sequential reader gets
   * 128 KiB requests even when max_read allows 1 MiB; only sysfs raises it, which takes root. Rejects
   * with a message saying why not. The device comes from /proc/self/mountinfo: a stat of the mount
   * point would be a request to this very process.
   */
  async setReadahead(kb: number): Promise<string> {
    const dev = await mountDevice(await realpath(this.mountpoint));
    if (dev === null) throw new Error(`${this.mountpoint} is not in /proc/self/mountinfo`);
    const path = `/sys/class/bdi/${dev}/read_ahead_kb`;
    try {
      await writeFile(path, `${kb}\n`);
    } catch (e) {
      throw new Error(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}${process.getuid?.() === 0 ? '' : ' (needs root)'}`);
    }
    return path;
  }

  /** `fusermount -uz` (lazy: succeeds even while files are open), then releases the native side. */
  unmount(): Promise<void> {
    return new Promise((resolve, reject) => this.fuse.unmount((err) => (err ? reject(err) : resolve())));
  }
}

/** The "major:minor" of the last mount at `mountpoint` (mountinfo escapes space, tab, newline and backslash in octal). */
async function mountDevice(mountpoint: string): Promise<string | null> {
  let dev: string | null = null;
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const point = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point === mountpoint) dev = f[2];
  }
  return dev;
}
