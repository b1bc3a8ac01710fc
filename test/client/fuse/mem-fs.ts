/**
 * A small in-memory file system for the binding tests: flat (one directory), sparse files (so offsets
 * past 4 GiB cost nothing), and a log of what each handler was called with. Lock and flock answers are
 * chosen by the test through `onLock`/`onFlock`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FuseMount, UTIME_NOW, UTIME_OMIT, fuseErrno, type FileLock, type MountOptions, type Operations, type Stat, type TimeSpec } from '../../../client/fuse/binding.js';

export interface MemFile {
  ino: number;
  mode: number;
  size: number;
  pieces: { off: number; buf: Buffer }[];
  atime: TimeSpec;
  mtime: TimeSpec;
  ctime: TimeSpec;
  xattrs: Map<string, Buffer>;
  /** Link count to report (default 1); a test makes a hard link by putting one MemFile under two paths. */
  nlink?: number;
}

export interface LockCall { path: string; fd: number; cmd: number; lock: FileLock; owner: bigint; signal: AbortSignal; cb: (r: number, c?: FileLock) => void }
export interface FlockCall { path: string; fd: number; op: number; owner: bigint; signal: AbortSignal; cb: (r: number) => void }

const now = (): TimeSpec => { const ms = Date.now(); return [Math.floor(ms / 1000), (ms % 1000) * 1e6]; };

export class MemFs {
  readonly files = new Map<string, MemFile>();
  readonly log = {
    writes: [] as { len: number; off: number }[],
    reads: [] as { len: number; off: number }[],
    utimens: [] as { atime: TimeSpec; mtime: TimeSpec }[],
    truncates: [] as number[],
    locks: [] as Omit<LockCall, 'cb' | 'signal'>[],
    flocks: [] as Omit<FlockCall, 'cb' | 'signal'>[],
    flushes: [] as { fd: number; owner: bigint }[],
    releases: [] as { fd: number; flockRelease: boolean; owner: bigint }[],
    creates: [] as { mode: number; flags: number }[],
    getattrs: [] as string[],
    fgetattrs: [] as string[],
  };
  /** Whether create and mkdir answer with the new name's stat (the binding then answers libfuse's lookup of it). */
  madeStats = false;
  /** Answers a lock request; default: granted (F_GETLK: no conflict). */
  onLock: (call: LockCall) => void = (c) => c.cb(0);
  onFlock: (call: FlockCall) => void = (c) => c.cb(0);
  statfsBlocks = 2 ** 40;
  private nextIno = 2 ** 33; // above 2^32 on purpose: inode numbers must not be truncated
  private nextFh = 2 ** 40;

  stat(f: MemFile): Stat {
    return { mode: f.mode, uid: 0, gid: 0, size: f.size, nlink: f.nlink ?? 1, ino: f.ino, blksize: 4096,
      blocks: Math.ceil(f.size / 512), atime: f.atime, mtime: f.mtime, ctime: f.ctime };
  }

  read(f: MemFile, len: number, off: number): Buffer {
    const out = Buffer.alloc(Math.max(0, Math.min(len, f.size - off)));
    for (const p of f.pieces) {
      const from = Math.max(off, p.off);
      const to = Math.min(off + out.length, p.off + p.buf.length);
      if (from < to) p.buf.copy(out, from - off, from - p.off, to - p.off);
    }
    return out;
  }

  private setTime(cur: TimeSpec, t: TimeSpec): TimeSpec {
    if (t[1] === UTIME_OMIT) return cur;
    if (t[1] === UTIME_NOW) return now();
    return [t[0], t[1]];
  }

  ops(): Operations {
    const ENOENT = fuseErrno('ENOENT');
    const file = (p: string) => this.files.get(p);
    return {
      getattr: (p, cb) => {
        this.log.getattrs.push(p);
        if (p === '/') return cb(0, { mode: 0o40755, nlink: 2, size: 4096, ino: 1, atime: [0, 0], mtime: [0, 0], ctime: [0, 0] });
        const f = file(p);
        return f ? cb(0, this.stat(f)) : cb(ENOENT);
      },
      fgetattr: (p, _fd, cb) => {
        this.log.fgetattrs.push(p);
        const f = file(p);
        return f ? cb(0, this.stat(f)) : cb(ENOENT);
      },
      mkdir: (p, mode, cb) => {
        const t = now();
        const d: MemFile = { ino: this.nextIno++, mode: 0o40000 | (mode & 0o7777), size: 4096, nlink: 2, pieces: [], atime: t, mtime: t, ctime: t, xattrs: new Map() };
        this.files.set(p, d);
        return this.madeStats ? cb(0, this.stat(d)) : cb(0);
      },
      readdir: (_p, cb) => cb(0, ['.', '..', ...[...this.files.keys()].map((k) => k.slice(1))]),
      statfs: (_p, cb) => cb(0, { bsize: 4096, frsize: 4096, blocks: this.statfsBlocks, bfree: this.statfsBlocks - 1,
        bavail: this.statfsBlocks - 2, files: 2 ** 34, ffree: 2 ** 34 - 1, favail: 2 ** 34 - 1, namemax: 255 }),
      create: (p, mode, flags, cb) => {
        this.log.creates.push({ mode, flags });
        const t = now();
        const f: MemFile = { ino: this.nextIno++, mode, size: 0, pieces: [], atime: t, mtime: t, ctime: t, xattrs: new Map() };
        this.files.set(p, f);
        return this.madeStats ? cb(0, this.nextFh++, 0, this.stat(f)) : cb(0, this.nextFh++);
      },
      open: (p, _flags, cb) => (file(p) ? cb(0, this.nextFh++) : cb(ENOENT)),
      write: (p, _fd, buf, len, off, cb) => {
        this.log.writes.push({ len, off });
        const f = file(p)!;
        f.pieces.push({ off, buf: Buffer.from(buf.subarray(0, len)) });
        f.size = Math.max(f.size, off + len);
        cb(len);
      },
      read: (p, _fd, buf, len, off, cb) => {
        this.log.reads.push({ len, off });
        const data = this.read(file(p)!, len, off);
        data.copy(buf);
        cb(data.length);
      },
      truncate: (p, size, cb) => { this.log.truncates.push(size); file(p)!.size = size; cb(0); },
      ftruncate: (p, _fd, size, cb) => { this.log.truncates.push(size); file(p)!.size = size; cb(0); },
      utimens: (p, atime, mtime, cb) => {
        this.log.utimens.push({ atime, mtime });
        const f = file(p);
        if (!f) return cb(ENOENT);
        f.atime = this.setTime(f.atime, atime);
        f.mtime = this.setTime(f.mtime, mtime);
        f.ctime = now();
        cb(0);
      },
      unlink: (p, cb) => (this.files.delete(p) ? cb(0) : cb(ENOENT)),
      setxattr: (p, name, value, _pos, _flags, cb) => { file(p)!.xattrs.set(name, Buffer.from(value)); cb(0); },
      getxattr: (p, name, _pos, cb) => { const v = file(p)?.xattrs.get(name); return v ? cb(0, v) : cb(fuseErrno('ENODATA')); },
      listxattr: (p, cb) => cb(0, [...(file(p)?.xattrs.keys() ?? [])]),
      flush: (_p, fd, owner, cb) => { this.log.flushes.push({ fd, owner }); cb(0); },
      release: (_p, fd, flockRelease, owner, cb) => { this.log.releases.push({ fd, flockRelease, owner }); cb(0); },
      lock: (path, fd, cmd, lock, owner, signal, cb) => {
        this.log.locks.push({ path, fd, cmd, lock, owner });
        this.onLock({ path, fd, cmd, lock, owner, signal, cb });
      },
      flock: (path, fd, op, owner, signal, cb) => {
        this.log.flocks.push({ path, fd, op, owner });
        this.onFlock({ path, fd, op, owner, signal, cb });
      },
    };
  }
}

/**
 * A MemFs mounted in a fresh temporary directory with `options`, unmounted and removed at the end of
 * the test file. The mount is served by this process: use only asynchronous fs calls (or a child
 * process) on it, since a synchronous one would block the thread that answers it.
 */
export async function mountMemFs(t: { teardown(f: () => unknown): void }, label: string, options: MountOptions): Promise<{ mem: MemFs; mount: FuseMount; mnt: string }> {
  const dir = mkdtempSync(join(tmpdir(), `tidefs-${label}-`));
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  const mem = new MemFs();
  const mount = new FuseMount(mnt, mem.ops(), { options });
  t.teardown(async () => {
    await mount.unmount().catch(() => undefined);
    spawnSync('fusermount', ['-u', '-z', mnt]);
    rmSync(dir, { recursive: true, force: true });
  });
  await mount.mount();
  return { mem, mount, mnt };
}
