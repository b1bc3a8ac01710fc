// Types for fuse-native 2.2.6 as patched by patches/fuse-native+2.2.6.patch (tidefs). The patch changes
// handler shapes (marked "patched"), so these types do not describe the unpatched package.
//
// Every callback takes a result first: 0 on success or a negative errno (read/write: a byte count;
// getxattr/listxattr: a size). 64-bit values (sizes, offsets, inode numbers, file handles) are JS
// numbers, exact up to 2^53. Lock owners are the kernel's 64-bit owner ids, as bigint.
declare module 'fuse-native' {
  namespace Fuse {
    /** 0 or a negative errno. */
    type Result = number;
    type Cb = (result: Result) => void;
    /** [seconds, nanoseconds]; nanoseconds may be UTIME_NOW or UTIME_OMIT in utimens. */
    type TimeSpec = [sec: number, nsec: number];
    /** Accepted in replies: [sec, nsec], a Date, milliseconds, or a bigint of nanoseconds. */
    type TimeInput = TimeSpec | Date | number | bigint;

    interface Stat {
      mode: number;
      uid?: number;
      gid?: number;
      size?: number;
      dev?: number;
      nlink?: number;
      /** Reaches the kernel with `use_ino` (and readdir entries with `readdir_ino`). */
      ino?: number;
      rdev?: number;
      blksize?: number;
      /** 512-byte units, as du counts. */
      blocks?: number;
      atime?: TimeInput;
      mtime?: TimeInput;
      ctime?: TimeInput;
    }

    interface Statfs {
      bsize?: number;
      frsize?: number;
      blocks?: number;
      bfree?: number;
      bavail?: number;
      files?: number;
      ffree?: number;
      favail?: number;
      fsid?: number;
      flag?: number;
      namemax?: number;
    }

    /** struct flock as libfuse hands it over: whence is always SEEK_SET; len 0 means "to end of file". */
    interface FileLock {
      type: number; // F_RDLCK | F_WRLCK | F_UNLCK
      whence: number;
      start: number;
      len: number;
      pid: number;
    }

    /** open/opendir/create reply bits (patched): per-open kernel cache behaviour. */
    type OpenFlags = number; // 1 direct_io | 2 keep_cache | 4 nonseekable

    interface Operations {
      init?(cb: Cb): void;
      access?(path: string, mode: number, cb: Cb): void;
      statfs?(path: string, cb: (result: Result, statfs?: Statfs) => void): void;
      getattr?(path: string, cb: (result: Result, stat?: Stat) => void): void;
      /** patched: now called (the original called getattr) and given the file handle. */
      fgetattr?(path: string, fd: number, cb: (result: Result, stat?: Stat) => void): void;
      /** patched: lockOwner added; libfuse then calls lock(F_SETLK, F_UNLCK, whole file) with it. */
      flush?(path: string, fd: number, lockOwner: bigint, cb: Cb): void;
      fsync?(path: string, datasync: number, fd: number, cb: Cb): void;
      fsyncdir?(path: string, datasync: number, fd: number, cb: Cb): void;
      /** names must include '.' and '..' if they should be listed; stats (same order) are optional. */
      readdir?(path: string, cb: (result: Result, names?: string[], stats?: Stat[]) => void): void;
      truncate?(path: string, size: number, cb: Cb): void;
      ftruncate?(path: string, fd: number, size: number, cb: Cb): void;
      /** patched: [sec, nsec] each; nsec === UTIME_NOW or UTIME_OMIT are special. */
      utimens?(path: string, atime: TimeSpec, mtime: TimeSpec, cb: Cb): void;
      readlink?(path: string, cb: (result: Result, target?: string) => void): void;
      chown?(path: string, uid: number, gid: number, cb: Cb): void;
      chmod?(path: string, mode: number, cb: Cb): void;
      mknod?(path: string, mode: number, dev: number, cb: Cb): void;
      /** flags: XATTR_CREATE (1) | XATTR_REPLACE (2); position is 0 on Linux. */
      setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Cb): void;
      /** Give the whole value; the binding answers size probes and ERANGE (patched). */
      getxattr?(path: string, name: string, position: number, cb: (result: Result, value?: Buffer | null) => void): void;
      /** Give all names; the binding answers size probes and ERANGE (patched). */
      listxattr?(path: string, cb: (result: Result, names?: string[]) => void): void;
      removexattr?(path: string, name: string, cb: Cb): void;
      /** patched: may answer (0, fh, openFlags); fh up to 2^53. */
      open?(path: string, flags: number, cb: (result: Result, fd?: number, openFlags?: OpenFlags) => void): void;
      /** patched: flags are the real open flags (the original passed the file handle as flags). */
      opendir?(path: string, flags: number, cb: (result: Result, fd?: number, openFlags?: OpenFlags) => void): void;
      read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytesOrErr: number) => void): void;
      write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytesOrErr: number) => void): void;
      /**
       * patched: flockRelease is true when the kernel asks to drop the flock locks of this open file,
       * owned by lockOwner (the same owner the flock calls carried); lockOwner is 0n otherwise.
       */
      release?(path: string, fd: number, flockRelease: boolean, lockOwner: bigint, cb: Cb): void;
      releasedir?(path: string, fd: number, cb: Cb): void;
      /**
       * patched: flags (O_EXCL, O_TRUNC, O_APPEND, access mode...) added; the new file's stat, if given,
       * answers the fgetattr libfuse sends for it next in the same request (no second call).
       */
      create?(path: string, mode: number, flags: number, cb: (result: Result, fd?: number, openFlags?: OpenFlags, stat?: Stat) => void): void;
      unlink?(path: string, cb: Cb): void;
      rename?(src: string, dest: string, cb: Cb): void;
      link?(src: string, dest: string, cb: Cb): void;
      symlink?(target: string, path: string, cb: Cb): void;
      /** patched: the new directory's stat, if given, answers libfuse's getattr of it that follows. */
      mkdir?(path: string, mode: number, cb: (result: Result, stat?: Stat) => void): void;
      rmdir?(path: string, cb: Cb): void;
      /**
       * patched (new): POSIX record locks. cmd is F_GETLK, F_SETLK or F_SETLKW. For F_GETLK answer
       * (0, conflictingLock) or (0) / (0, {type: F_UNLCK}) when there is none. Never timed out; when
       * the waiting application is interrupted, `signal` aborts and the handler should answer EINTR.
       */
      lock?(path: string, fd: number, cmd: number, lock: FileLock, lockOwner: bigint, signal: AbortSignal,
        cb: (result: Result, conflict?: FileLock) => void): void;
      /** patched (new): BSD flock. op is LOCK_SH, LOCK_EX or LOCK_UN, | LOCK_NB. Same waiting rules as lock. */
      flock?(path: string, fd: number, op: number, lockOwner: bigint, signal: AbortSignal, cb: Cb): void;
    }

    type OpName = Exclude<keyof Operations, 'init'>;

    interface Options {
      /** ms per op, false for none, or per op ({ default: ms, read: false, ... }); lock/flock never time out. */
      timeout?: number | false | ({ default?: number } & Partial<Record<OpName, number | false>>);
      mkdir?: boolean;
      force?: boolean;
      debug?: boolean;
      /** patched: raw "-o" options appended as they are (see client/fuse/mount-options.ts). */
      mountOptions?: string[];
      [legacy: string]: unknown;
    }

    interface Constants {
      readonly F_GETLK: number;
      readonly F_SETLK: number;
      readonly F_SETLKW: number;
      readonly F_RDLCK: number;
      readonly F_WRLCK: number;
      readonly F_UNLCK: number;
      readonly LOCK_SH: number;
      readonly LOCK_EX: number;
      readonly LOCK_UN: number;
      readonly LOCK_NB: number;
      readonly UTIME_NOW: number;
      readonly UTIME_OMIT: number;
    }
  }

  class Fuse {
    constructor(mnt: string, ops: Fuse.Operations, opts?: Fuse.Options);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    /**
     * patched: drop the kernel's cached attributes of inode `ino` under every name, and its cached
     * data from `offset` for `length` bytes (offset < 0: attributes only; length 0: to the end).
     * cb(res, nodes): 0 or a negative errno, and how many kernel nodes carried the inode.
     */
    invalidateInode(ino: number, offset: number, length: number, cb: (res: number, nodes: number) => void): void;
    /** patched: drop the kernel's cached name `name` in directory `parentIno`. */
    invalidateEntry(parentIno: number, name: string, cb: (res: number, nodes: number) => void): void;
    /**
     * patched: put `buf` at `offset` into the kernel's page cache of inode `ino` under every name
     * (FUSE_NOTIFY_STORE); the kernel grows i_size to offset + length. buf must not change until cb.
     */
    storeInode(ino: number, offset: number, buf: Buffer, cb: (res: number, nodes: number) => void): void;
    /** patched: how many kernel nodes the channel knows (-1 without the kernel view). */
    kernelNodes(): number;
    /** patched: `on` while no POSIX lock is held: the F_UNLCK of every flush is answered natively, without ops.lock. */
    setUnlockFast(on: boolean): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    /** patched: the platform's lock and utimens constants, read from the C headers. */
    static readonly constants: Fuse.Constants;
    /**
     * patched: fuse_get_context() of the request being handled: the calling process. Only valid in
     * the synchronous part of a handler call (read it before any await); null outside one.
     */
    static context(): { uid: number; gid: number; pid: number; umask: number } | null;
    /**
     * patched: what the build supports. nullPath: ops with a file handle may get '' as the path (the
     * file was unlinked while open), so mounting with hard_remove is safe.
     */
    static readonly features: { readonly nullPath: boolean; readonly invalidate?: boolean; readonly store?: boolean };
  }
  export = Fuse;
}
