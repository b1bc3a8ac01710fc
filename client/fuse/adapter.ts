import { readFileSync } from 'node:fs';
import type { Errno, FsResult } from '../../shared/errno.js';
import type { Logger } from '../../shared/log.js';
import type { Attr } from '../../shared/types.js';
import type { OpContext } from '../vfs/types.js';
import type { TimeArg } from '../vfs/setattrs.js';
import type { Vfs } from '../vfs/vfs.js';
import type { VfsLocks } from '../vfs/locks.js';
import { fuseErrno, UTIME_NOW, UTIME_OMIT, type Operations, type Stat, type TimeSpec } from './binding.js';
import { MAX_REQUEST_BYTES } from './mount-options.js';

/** The caller of the current FUSE request, from fuse_get_context(); null when the binding cannot tell. */
export type CallerSource = () => { uid: number; gid: number; pid: number } | null;

const GROUPS_TTL_MS = 1000;
const BLKSIZE = MAX_REQUEST_BYTES; // st_blksize: what cp and stdio size their I/O by; one max_write

const errnoNumber = fuseErrno;

export function toStat(a: Attr): Stat {
  return {
    mode: a.mode, uid: a.uid, gid: a.gid, size: a.size, nlink: a.nlink, ino: a.ino, rdev: a.rdev,
    blksize: BLKSIZE, blocks: Math.ceil((a.allocBytes ?? a.size) / 512), dev: 0,
    atime: [a.atime[0], a.atime[1]], mtime: [a.mtime[0], a.mtime[1]], ctime: [a.ctime[0], a.ctime[1]],
  };
}

function timeArg(t: TimeSpec): TimeArg {
  if (t[1] === UTIME_OMIT) return undefined;
  if (t[1] === UTIME_NOW) return 'now';
  return [t[0], t[1]];
}

/** Builds the OpContext of the current request: the binding's caller plus supplementary groups. */
function contextSource(caller: CallerSource): () => OpContext {
  const groupCache = new Map<number, { groups: number[]; at: number }>();
  /** Supplementary groups of the calling process, from /proc/<pid>/status (cached briefly per pid). */
  const groupsOf = (pid: number): number[] => {
    if (!pid) return [];
    const hit = groupCache.get(pid);
    const now = Date.now();
    if (hit && now - hit.at < GROUPS_TTL_MS) return hit.groups;
    let groups: number[] = [];
    try {
      const m = /^Groups:[ \t]*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      groups = m ? m[1].trim().split(/\s+/).map(Number).filter((g) => Number.isInteger(g) && g >= 0) : [];
    } catch { /* the process is gone: no groups */ }
    if (groupCache.size > 4096) groupCache.clear();
    groupCache.set(pid, { groups, at: now });
    return groups;
  };
  const ctx = (): OpContext => {
    const c = caller() ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, pid: 0 };
    return { uid: c.uid, gid: c.gid, pid: c.pid, groups: groupsOf(c.pid) };
  };
  return ctx;
}

/** detail: appended to the access-log line (read and write: the request's size and offset). */
type Run = <T>(op: string, path: string, f: (c: OpContext) => Promise<FsResult<T>>, reply: (v: T) => void, cb: (r: number) => void, detail?: string) => void;

/**
 * Ops that act through a file handle. The binding passes them '' as the path for a file unlinked
 * while open (hard_remove, Fuse.features.nullPath); every other op needs a name, and '' there would
 * resolve to the root directory, so it is refused with ENOENT.
 */
const FH_OPS: ReadonlySet<string> = new Set(['read', 'write', 'flush', 'fsync', 'fsyncdir', 'release', 'fgetattr', 'ftruncate', 'lock', 'flock']);

/** Runs one op: the caller's context, access log, errno mapping, and the reply built from the value. */
function runner(ctx: () => OpContext, log: Logger): Run {
  return function run(op, path, f, reply, cb, detail) {
    if (path === '' && !FH_OPS.has(op)) return cb(errnoNumber('ENOENT'));
    const t0 = performance.now();
    let errno: Errno | null = null;
    f(ctx()).then((r) => {
      if (r.ok) return reply(r.value);
      errno = r.errno;
      cb(errnoNumber(r.errno));
    }, (e: unknown) => {
      errno = 'EIO';
      log.error(`${op} ${path}: bug: ${(e as Error)?.stack ?? e}`);
      cb(errnoNumber('EIO'));
    }).finally(() => log.debug(`${op} ${path} ${errno ?? 'ok'} ${(performance.now() - t0).toFixed(1)}ms${detail ? ` ${detail}` : ''}`));
  };
}

/**
 * The FUSE operations: each builds the caller's OpContext, awaits the VFS, answers cb(0, value) or
 * cb(negative errno) (read/write: the byte count), and writes an access-log line (op, errno, ms).
 */
export function makeOperations(vfs: Vfs, log: Logger, caller: CallerSource, locks?: VfsLocks): Operations {
  const run = runner(contextSource(caller), log);
  const done = (cb: (r: number) => void) => () => cb(0);
  const withStat = (cb: (r: number, s?: Stat) => void) => (a: Attr) => cb(0, toStat(a));
  const withFd = (cb: (r: number, fd?: number) => void) => (fd: number) => cb(0, fd);

  return {
    init: (cb) => cb(0),
    getattr: (p, cb) => run('getattr', p, (c) => vfs.getattr(c, p), withStat(cb), cb),
    fgetattr: (p, fd, cb) => run('fgetattr', p, (c) => vfs.fgetattr(c, fd), withStat(cb), cb),
    access: (p, mode, cb) => run('access', p, (c) => vfs.access(c, p, mode), done(cb), cb),
    statfs: (p, cb) => run('statfs', p, (c) => vfs.statfs(c), (s) => cb(0, {
      bsize: s.blockSize, frsize: s.blockSize, blocks: Math.floor(s.totalBytes / s.blockSize), bfree: Math.floor(s.freeBytes / s.blockSize),
      bavail: Math.floor(s.availBytes / s.blockSize), files: s.files, ffree: s.filesFree, favail: s.filesFree, namemax: s.nameMax,
    }), cb),
    readdir: (p, cb) => run('readdir', p, (c) => vfs.readdir(c, p), (es) => cb(0, ['.', '..', ...es.map((e) => e.name)]), cb),
    // libfuse looks the new name up right after (getattr/fgetattr): the binding answers that with the
    // attributes given here, one JS round trip less per mkdir and create.
    mkdir: (p, mode, cb) => run('mkdir', p, (c) => vfs.mkdir(c, p, mode), (a) => cb(0, toStat(vfs.servedNew(a))), cb),
    rmdir: (p, cb) => run('rmdir', p, (c) => vfs.rmdir(c, p), done(cb), cb),
    mknod: (p, mode, dev, cb) => run('mknod', p, (c) => vfs.mknod(c, p, mode, dev), done(cb), cb),
    symlink: (target, p, cb) => run('symlink', p, (c) => vfs.symlink(c, target, p), done(cb), cb),
    readlink: (p, cb) => run('readlink', p, (c) => vfs.readlink(c, p), (t) => cb(0, t), cb),
    link: (from, to, cb) => run('link', to, (c) => vfs.link(c, from, to), done(cb), cb),
    unlink: (p, cb) => run('unlink', p, (c) => vfs.unlink(c, p), done(cb), cb),
    rename: (from, to, cb) => run('rename', from, (c) => vfs.rename(c, from, to), done(cb), cb),
    chmod: (p, mode, cb) => run('chmod', p, (c) => vfs.chmod(c, p, mode), done(cb), cb),
    chown: (p, uid, gid, cb) => run('chown', p, (c) => vfs.chown(c, p, uid, gid), done(cb), cb),
    utimens: (p, at, mt, cb) => run('utimens', p, (c) => vfs.utimens(c, p, timeArg(at), timeArg(mt)), done(cb), cb),
    truncate: (p, size, cb) => run('truncate', p, (c) => vfs.truncate(c, p, size), done(cb), cb),
    ftruncate: (p, fd, size, cb) => run('ftruncate', p, (c) => vfs.ftruncate(c, fd, size), done(cb), cb),
    open: (p, flags, cb) => run('open', p, (c) => vfs.open(c, p, flags), withFd(cb), cb),
    create: (p, mode, flags, cb) => run('create', p, (c) => vfs.create(c, p, mode, flags), (fd) => {
      const a = vfs.handleAttr(fd);
      cb(0, fd, 0, a && toStat(a));
    }, cb),
    read: (p, fd, buf, len, off, cb) => run('read', p, (c) => vfs.read(c, fd, off, len), (data) => {
      buf.set(data.subarray(0, Math.min(len, data.byteLength)));
      cb(Math.min(len, data.byteLength));
    }, cb, `${len} at ${off}`),
    write: (p, fd, buf, len, off, cb) => run('write', p, (c) => {
      const fenced = locks?.checkWrite(fd); // a fenced handle writes nothing (docs/locking.md)
      // No copy: the binding's buffer is libfuse's, valid until cb (its thread waits on a semaphore
      // for it), and the writer copies the bytes into its run before its first await. A copy here
      // was a 128 KiB allocation per write: 1 GiB of garbage per GiB written.
      return fenced ? Promise.resolve({ ok: false as const, errno: fenced }) : vfs.write(c, fd, off, buf.subarray(0, len));
    }, (n) => cb(n), cb, `${len} at ${off}`),
    flush: (p, fd, _owner, cb) => run('flush', p, (c) => vfs.flush(c, fd), done(cb), cb),
    fsync: (p, _datasync, fd, cb) => run('fsync', p, (c) => vfs.fsync(c, fd), done(cb), cb),
    fsyncdir: (p, _datasync, _fd, cb) => run('fsyncdir', p, async () => ({ ok: true as const, value: undefined }), done(cb), cb),
    release: (p, fd, flockRelease, owner, cb) => run('release', p, async (c) => {
      // The last close of an open file drops its flock (flock_release), before the handle goes.
      if (locks && flockRelease) await locks.releaseFlock(fd, owner);
      locks?.forget(fd);
      return vfs.release(c, fd);
    }, done(cb), cb),
    // Cross-client locks (client/vfs/locks.ts); without them the kernel would keep locks per mount.
    ...(locks ? {
      lock: (p, fd, cmd, l, owner, signal, cb) => run('lock', p, () => locks.posix(fd, cmd, l, owner, signal), (conflict) => (conflict ? cb(0, conflict) : cb(0)), cb),
      flock: (p, fd, op, owner, signal, cb) => run('flock', p, () => locks.flock(fd, op, owner, signal), done(cb), cb),
    } satisfies Operations : {}),
    setxattr: (p, name, value, _pos, flags, cb) => run('setxattr', p, (c) => vfs.xattrs.set(c, p, name, Buffer.from(value), flags), done(cb), cb),
    getxattr: (p, name, _pos, cb) => run('getxattr', p, (c) => vfs.xattrs.get(c, p, name), (v) => cb(0, v as Buffer), cb),
    listxattr: (p, cb) => run('listxattr', p, (c) => vfs.xattrs.list(c, p), (v) => cb(0, splitNames(v as Buffer)), cb),
    removexattr: (p, name, cb) => run('removexattr', p, (c) => vfs.xattrs.remove(c, p, name), done(cb), cb),
  };
}

function splitNames(v: Buffer): string[] {
  return v.toString('utf8').split('\0').filter(Boolean);
}
