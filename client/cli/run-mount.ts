import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createLogger } from '../../shared/log.js';
import { ClusterClient } from '../rpc/cluster-client.js';
import { setErrnoLogger } from '../rpc/errno.js';
import { KERNEL_CACHE_SEC, NAMES_CACHE_SEC } from '../vfs/kernel-cache.js';
import { DEFER_ATTRS_MS } from '../vfs/deferred-attrs.js';
import { Vfs } from '../vfs/vfs.js';
import { VfsLocks } from '../vfs/locks.js';
import type { Logger } from '../../shared/log.js';
import { mallocTunablesWarning } from '../../shared/malloc-tunables.js';
import type { ChangedPush } from '../../shared/protocol/ops.js';

/** The lock layer over this mount's cluster client (grant pushes in, fencing hooks out: docs/locking.md), and the change feed into the VFS. */
function wireLocks(client: ClusterClient, vfs: Vfs, log: Logger): VfsLocks {
  const lease = () => (client.sessionOrNull ? { startMs: client.leaseStartMs, leaseMs: client.leaseMsGranted } : null);
  const locks = new VfsLocks({ meta: (op, args) => client.meta(op, args), lease }, vfs.files, { nowMs: () => Date.now() }, log.child('locks'));
  client.onPush = (name, data) => {
    if (name === 'changed') void vfs.remoteChanged(data as ChangedPush); // checked by the cluster client
    else locks.onPush(name, data);
  };
  client.pool.onConnClose = () => locks.onConnectionLost();
  client.staleRetryAllowed = (op, args) => !op.startsWith('lock') && !(op === 'commitWrite' && locks.holdsLocks(args.ino as number));
  return locks;
}

export interface MountArgs {
  urls: string[];
  mountpoint: string;
  strict: boolean;
  directIo?: boolean;
  foreground: boolean;
  debug: boolean;
  cluster: string;
  logFile: string;
  /** Session lease asked for (--lease-ms); renewed every third of it, locks fenced past half of it. */
  leaseMs?: number;
}

const CONNECT_MS_MAX = 20_000;
const FLUSH_MS_MAX = 30_000;

function mountedNow(mnt: string): boolean {
  try {
    return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt.replace(/ /g, '\\040'));
  } catch {
    return true;
  }
}

/** libfuse2 is loaded with fuse-native; its absence shows as a dlopen error naming libfuse.so.2. */
async function loadFuse(): Promise<typeof import('../fuse/mount.js')> {
  try {
    return await import('../fuse/mount.js');
  } catch (e) {
    const msg = (e as Error).message;
    if (/libfuse\.so\.2/.test(msg)) throw new Error('libfuse2 is not installed: install libfuse2 (Debian 13/Ubuntu 24.04: libfuse2t64)');
    throw new Error(`cannot load the FUSE binding (fuse-native): ${msg}`);
  }
}

/**
 * A foreground mount: connects, opens a session, mounts, and resolves with the exit code once the
 * file system is unmounted (SIGINT/SIGTERM flush and unmount cleanly; an outside `fusermount -u` is
 * noticed within a second).
 */
export async function runMount(a: MountArgs): Promise<number> {
  const log = createLogger(`tidefs-client ${a.mountpoint}`, { level: a.debug ? 'debug' : undefined });
  setErrnoLogger(log.child('errno'));
  const fuseMod = await loadFuse();
  const client = new ClusterClient({ urls: a.urls, cluster: a.cluster, clientName: `${hostname()}:${process.pid}:${a.mountpoint}`.slice(0, 128), logger: log.child('rpc'), ...(a.leaseMs ? { leaseMs: a.leaseMs } : {}) });
  let locks: VfsLocks | undefined; // wired below, once the VFS's handle table exists
  try {
    await client.start(CONNECT_MS_MAX);
  } catch (e) {
    await client.close();
    throw new Error(`no reachable node at ${a.urls.join(',')} (cluster ${a.cluster}): ${(e as Error).message}`);
  }
  const vfs = new Vfs({
    cluster: {
      // Data commits of lock-holding files pass the lock layer's fence (docs/locking.md).
      meta: (op, args) => (op === 'commitWrite' && locks ? locks.guardCommit((args as unknown as { ino: number }).ino, () => client.meta(op, args)) : client.meta(op, args)),
      putBlock: (id, d) => client.putBlock(id, d), getBlock: (id, o, l, opts) => client.getBlock(id, o, l, opts),
      onNewSession: (cb) => { client.onNewSession = () => { locks?.sessionReplaced(); cb(); }; },
      openLater: (ino) => client.openLater(ino),
    },
    clock: { nowMs: () => Date.now() },
    randomHex: () => randomBytes(12).toString('hex'),
    log: log.child('vfs'),
    pathTtlMs: a.strict ? 0 : KERNEL_CACHE_SEC * 1000, // kept coherent like the kernel's (kernel-cache.ts)
    namesTtlMs: a.strict ? 0 : NAMES_CACHE_SEC * 1000,
    deferAttrsMs: a.strict ? 0 : DEFER_ATTRS_MS,
  });
  locks = wireLocks(client, vfs, log);
  let mounted;
  try {
    mounted = await fuseMod.mountFuse(vfs, { mountpoint: a.mountpoint, strict: a.strict, debug: a.debug, directIo: a.directIo ?? false }, log, locks);
  } catch (e) {
    await client.close();
    const msg = (e as Error).message;
    throw new Error(`cannot mount at ${a.mountpoint}: ${msg}${/in use|busy/i.test(msg) ? ' (already mounted or busy)' : ''}`);
  }
  log.info(`mounted ${a.urls.join(',')} at ${a.mountpoint}${a.strict ? ' (strict: no kernel caching)' : ''}`);
  const malloc = mallocTunablesWarning();
  if (malloc) log.warn(malloc);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (why: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(watch);
      log.info(`${why}: flushing and unmounting`);
      await Promise.race([vfs.destroy(), new Promise((r) => setTimeout(r, FLUSH_MS_MAX))]);
      if (mountedNow(a.mountpoint)) await mounted.unmount().catch((e: Error) => log.warn(`unmount: ${e.message}`));
      await client.close();
      log.info(`requests sent: ${client.describeCounts()}`);
      log.info(`read data put into the kernel's page cache: ${mounted.describePages()}`);
      log.info('unmounted');
      resolve(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
    // Test harnesses set TIDEFS_EXIT_WITH_PARENT so that a killed test run leaves no mount behind.
    const parent = process.ppid;
    const withParent = process.env.TIDEFS_EXIT_WITH_PARENT === '1';
    const watch = setInterval(() => {
      if (!mountedNow(a.mountpoint)) void stop('unmounted from outside');
      else if (withParent && process.ppid !== parent) void stop('parent process exited');
    }, 1000);
  });
}
