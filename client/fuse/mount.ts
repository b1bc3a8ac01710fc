import type { Logger } from '../../shared/log.js';
import { KERNEL_CACHE_SEC, KernelCache } from '../vfs/kernel-cache.js';
import { KernelPages } from '../vfs/kernel-pages.js';
import type { Vfs } from '../vfs/vfs.js';
import type { VfsLocks } from '../vfs/locks.js';
import { makeOperations, type CallerSource } from './adapter.js';
import { Fuse, FuseMount } from './binding.js';
import { MAX_REQUEST_BYTES, type MountOptions } from './mount-options.js';

export interface MountSettings {
  mountpoint: string;
  strict: boolean;
  debug?: boolean;
  /** No kernel page cache at all (every read reaches the client): for programs sharing open files under locks. */
  directIo?: boolean;
  /** How long the kernel may keep attributes and names (default KERNEL_CACHE_SEC; strict: 0). */
  cacheSec?: number;
}


/**
 * Mount options (DESIGN.md "What fuse-native needs", NOTES.md pjdfstest facts):
 * - allow_other + default_permissions: a shared multi-user file system; the kernel checks modes.
 * - big_writes, max_write/max_read 1 MiB: large requests instead of 4 KiB pages (MAX_REQUEST_BYTES).
 * - use_ino: st_ino is the cluster's inode number. fsname/subtype tidefs.
 * - auto_unmount: a crashed client leaves no dead mount behind.
 * - default: attributes and names cached by the kernel for cacheSec (60 s, NFS's acregmax), kept
 *   coherent by invalidation instead of by expiry (client/vfs/kernel-cache.ts): our /dev/fuse channel
 *   (kernel-view.c in the patched binding) knows the kernel's node ids, sets the attribute timeout of
 *   files with several links to 0 (libfuse 2's high-level API gives each name its own kernel inode, so
 *   a change through one name would hide behind another's copy: pjdfstest link/00), and drops the
 *   kernel's copies when this mount learns of newer ones (open: close-to-open; close: the commit's
 *   mtime; link) or the cluster pushes another mount's changes. auto_cache keeps the page cache across
 *   opens while mtime and size are unchanged; ac_attr_timeout=0 makes it ask at every open.
 * - --strict: attr_timeout=0, entry_timeout=0 and no auto_cache, so the page cache is dropped at every open; not
 *   direct_io, which would break shared writable mmap.
 * - no hard_remove, although the binding accepts null paths (Fuse.features.nullPath): with it, fstat,
 *   fchmod and fchown of an unlinked open file fail with ENOENT (the kernel sends them by inode, without
 *   the file handle, and libfuse has no path left). libfuse's rename to .fuse_hiddenN is instead turned
 *   into a real unlink on the cluster, the hidden name kept only in this client (Vfs.hideOpen): no
 *   mount lists it, and the cluster keeps the inode while this session has it open.
 */
export function tidefsMountOptions(s: MountSettings): MountOptions {
  return {
    allowOther: true,
    defaultPermissions: true,
    autoUnmount: true,
    bigWrites: true,
    maxWriteBytes: MAX_REQUEST_BYTES,
    maxReadBytes: MAX_REQUEST_BYTES,
    useIno: true,
    fsname: 'tidefs',
    subtype: 'tidefs',
    attrTimeoutSec: s.strict ? 0 : s.cacheSec ?? KERNEL_CACHE_SEC,
    entryTimeoutSec: s.strict ? 0 : s.cacheSec ?? KERNEL_CACHE_SEC,
    negativeTimeoutSec: 0,
    autoCache: !s.strict,
    ...(s.strict ? {} : { acAttrTimeoutSec: 0 }),
    hardRemove: false,
    debug: s.debug,
    directIo: s.directIo ?? false,
  };
}

export interface MountedFs {
  unmount(): Promise<void>;
  /** How many kernel nodes (names the kernel holds) the mount's channel knows; for tests. */
  kernelNodes(): number;
  /** What random reads put into the kernel's page cache (kernel-pages.ts), for the log at unmount. */
  describePages(): string;
}

/** Whether the binding tells us who calls (fuse_get_context()); without it every op runs as this process's user. */
export function hasCallerContext(): boolean {
  return typeof (Fuse as unknown as { context?: unknown }).context === 'function';
}

/** Whether the binding passes a null path (instead of failing) for ops on an unlinked open file. */
export function nullPathSupported(): boolean {
  return (Fuse as unknown as { features?: { nullPath?: boolean } }).features?.nullPath === true;
}

/** Whether the binding can put data into the kernel's page cache (FUSE_NOTIFY_STORE). */
export function storeSupported(): boolean {
  return (Fuse as unknown as { features?: { store?: boolean } }).features?.store === true;
}

/** The caller of the current request, if the binding exposes fuse_get_context(). */
function callerSource(): CallerSource {
  const f = Fuse as unknown as { context?: () => { uid: number; gid: number; pid: number } | null };
  return typeof f.context === 'function' ? () => f.context!() : () => null;
}

export async function mountFuse(vfs: Vfs, s: MountSettings, log: Logger, locks?: VfsLocks): Promise<MountedFs> {
  const ops = makeOperations(vfs, log.child('fuse'), callerSource(), locks);
  // No per-op timeout: the RPC layer bounds every request (60 s) and lock waits must not be cut short.
  const m = new FuseMount(s.mountpoint, ops, { timeout: false, options: tidefsMountOptions(s) });
  await m.mount();
  // Sequential reads in MAX_REQUEST_BYTES requests: the kernel's 128 KiB readahead would cut them to 128 KiB.
  if (!s.directIo) {
    await m.setReadahead(MAX_REQUEST_BYTES >> 10).then(
      (path) => log.debug(`kernel readahead ${MAX_REQUEST_BYTES >> 10} KiB (${path})`),
      (e: Error) => log.info(`kernel readahead stays at 128 KiB, so sequential reads go in 128 KiB requests: ${e.message}`));
  }
  const kernel = new KernelCache({
    invalidateInode: (ino, data) => m.invalidateInode(ino, data),
    invalidateEntry: (parent, name) => m.invalidateEntry(parent, name),
  }, log.child('kernel-cache'));
  // Strict mounts cache no attributes or names, but keep pages while a file stays open: lock grants drop them.
  if (!s.strict) vfs.attachKernel(kernel);
  // Random reads fill the page cache around the page asked for, where it is kept across opens.
  const pages = !s.strict && !s.directIo && storeSupported() ? new KernelPages({ storeData: (ino, off, data) => m.storeData(ino, off, data) }, log.child('kernel-pages')) : undefined;
  if (pages) vfs.files.attachPages(pages);
  locks?.attachKernel(kernel);
  locks?.watchPosixLocks((held) => m.setUnlockFast(!held));
  return {
    unmount: () => m.unmount(),
    kernelNodes: () => m.kernelNodes(),
    describePages: () => pages ? `${pages.stats.stores} stores, ${(pages.stats.bytes / 2 ** 20).toFixed(1)} MiB (${pages.stats.stale} skipped as stale, ${pages.stats.failed} failed)` : 'off',
  };
}
