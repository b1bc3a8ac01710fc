/**
 * The "-o" options of a tidefs mount (libfuse 2.9 high-level API + the kernel), built from typed
 * settings. fuse-native's own builder lacks big_writes/max_write and garbles user_id, so the patched
 * binding takes this list as it is (`mountOptions`).
 */

export interface MountOptions {
  /**
   * Writes of up to maxWrite bytes instead of 4 KiB pages (about 6x faster for large writes here).
   * Default true.
   */
  bigWrites?: boolean;
  /**
   * Largest write request, bytes. Default MAX_REQUEST_BYTES. Above 128 KiB the patched binding's
   * channel negotiates FUSE protocol 7.28's max_pages with the kernel (libfuse 2.9 alone stops at 128 KiB).
   */
  maxWriteBytes?: number;
  /** Largest read request, bytes. Default MAX_REQUEST_BYTES. */
  maxReadBytes?: number;
  /** Let users other than the mounting one in (pjdfstest needs it). */
  allowOther?: boolean;
  /** The kernel checks permissions from mode/uid/gid, so the file system need not. */
  defaultPermissions?: boolean;
  /**
   * fusermount unmounts when the mounting process dies (even by SIGKILL). libfuse 2.9 then mounts
   * through fusermount (fuse3's fusermount3 speaks the same protocol), also as root.
   */
  autoUnmount?: boolean;
  /** Kernel attribute cache lifetime, seconds (libfuse default 1). 0 = ask every time. */
  attrTimeoutSec?: number;
  /** Kernel name-lookup cache lifetime, seconds (libfuse default 1). */
  entryTimeoutSec?: number;
  /** Cache lifetime of "no such name", seconds (libfuse default 0). */
  negativeTimeoutSec?: number;
  /** Keep page cache across opens while mtime/size are unchanged (close-to-open cheaply). */
  autoCache?: boolean;
  /**
   * How old libfuse's own copy of a file's mtime/size may be when auto_cache decides at open whether
   * to keep the page cache, seconds (libfuse default: attr_timeout). 0: it asks fgetattr at every open.
   */
  acAttrTimeoutSec?: number;
  /** Always keep the page cache on open (only for data that cannot change elsewhere). */
  kernelCache?: boolean;
  /** Bypass the page cache for every file (strict mode; per-file: open's openFlags bit 1). */
  directIo?: boolean;
  /** stat's st_ino comes from getattr's ino (else libfuse numbers nodes itself). */
  useIno?: boolean;
  /** readdir entries carry the ino given in readdir's stats. */
  readdirIno?: boolean;
  /** unlink an open file for real instead of renaming it to .fuse_hiddenNNN. */
  hardRemove?: boolean;
  /** Shown as the mount's source in /proc/mounts. */
  fsname?: string;
  /** Shown as the type: fuse.<subtype>. */
  subtype?: string;
  /**
   * libfuse's -o intr: on FUSE_INTERRUPT it signals the worker thread (pthread_kill) every second
   * until the request ends. Not needed for EINTR on lock waits (the patched binding polls
   * fuse_interrupted() there), and harmful with the default SIGUSR1, which starts Node's inspector:
   * so intr always sets intr_signal, SIGUSR2 (12) unless intrSignal says otherwise.
   */
  intr?: boolean;
  intrSignal?: number;
  /** Prints every FUSE request on stderr. */
  debug?: boolean;
  /** Anything else, appended as given (each checked for commas). */
  extra?: string[];
}

/**
 * The largest FUSE read or write: 1 MiB, the kernel's default max_pages limit (256 pages). Each
 * request is a round trip through the one JS thread, so a sequential MiB costs one instead of eight.
 */
export const MAX_REQUEST_BYTES = 1 << 20;

/** What tidefs mounts with unless told otherwise: big writes, 1 MiB requests, real inode numbers. */
export const TIDEFS_MOUNT_DEFAULTS: Readonly<MountOptions> = Object.freeze({
  bigWrites: true,
  maxWriteBytes: MAX_REQUEST_BYTES,
  maxReadBytes: MAX_REQUEST_BYTES,
  useIno: true,
  readdirIno: true,
  fsname: 'tidefs',
  subtype: 'tidefs',
});

const SIGUSR2 = 12;

/** A libfuse option value must not carry the option separator or a NUL. */
function checkedValue(name: string, value: string): string {
  if (value.length === 0 || /[,\0\\]/.test(value)) throw new RangeError(`mount option ${name}: bad value ${JSON.stringify(value)}`);
  return value;
}

function checkedNumber(name: string, value: number, integer: boolean): string {
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new RangeError(`mount option ${name}: bad number ${value}`);
  }
  return String(value);
}

/** The option list for `new Fuse(mnt, ops, { mountOptions })`, defaults merged under `options`. */
export function buildMountOptions(options: MountOptions = {}): string[] {
  const o: MountOptions = { ...TIDEFS_MOUNT_DEFAULTS, ...options };
  const out: string[] = [];
  const flag = (on: boolean | undefined, name: string) => { if (on) out.push(name); };
  const num = (value: number | undefined, name: string, integer: boolean) => {
    if (value !== undefined) out.push(`${name}=${checkedNumber(name, value, integer)}`);
  };
  const str = (value: string | undefined, name: string) => {
    if (value !== undefined) out.push(`${name}=${checkedValue(name, value)}`);
  };
  flag(o.debug, 'debug');
  flag(o.bigWrites, 'big_writes');
  num(o.maxWriteBytes, 'max_write', true);
  num(o.maxReadBytes, 'max_read', true);
  flag(o.allowOther, 'allow_other');
  flag(o.defaultPermissions, 'default_permissions');
  flag(o.autoUnmount, 'auto_unmount');
  num(o.attrTimeoutSec, 'attr_timeout', false);
  num(o.entryTimeoutSec, 'entry_timeout', false);
  num(o.negativeTimeoutSec, 'negative_timeout', false);
  if (o.autoCache && o.kernelCache) throw new RangeError('mount options auto_cache and kernel_cache exclude each other');
  flag(o.autoCache, 'auto_cache');
  num(o.acAttrTimeoutSec, 'ac_attr_timeout', false);
  flag(o.kernelCache, 'kernel_cache');
  flag(o.directIo, 'direct_io');
  flag(o.useIno, 'use_ino');
  flag(o.readdirIno, 'readdir_ino');
  flag(o.hardRemove, 'hard_remove');
  str(o.fsname, 'fsname');
  str(o.subtype, 'subtype');
  if (o.intr) {
    out.push('intr');
    num(o.intrSignal ?? SIGUSR2, 'intr_signal', true);
  }
  for (const e of o.extra ?? []) out.push(checkedValue('extra', e));
  return out;
}
