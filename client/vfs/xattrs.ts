import { fail, FsError, ok, type FsResult } from '../../shared/errno.js';
import { toErrno } from '../rpc/errno.js';
import type { PathCache } from './paths.js';
import { credOf, type ClusterApi, type OpContext, type VfsClock } from './types.js';

/**
 * Extended attributes. getxattr/listxattr follow the syscalls' size protocol: size 0 asks for the
 * size needed (returned as a number), a buffer too small is ERANGE, otherwise the bytes.
 */
export class Xattrs {
  /**
   * Inodes known to have no security.capability, until when (ms). The kernel asks for it before
   * every write to a FUSE file (to drop capabilities); without this each write costs two round trips.
   */
  private readonly noCap = new Map<number, number>();

  constructor(private readonly cluster: ClusterApi, private readonly paths: PathCache, private readonly clock: VfsClock, private readonly ttlMs: number) {}

  /** An inode this mount just created: it has no xattrs, so security.capability needs no round trip for a while. */
  noneYet(ino: number): void {
    if (this.ttlMs <= 0) return;
    if (this.noCap.size > 10_000) this.noCap.clear();
    this.noCap.set(ino, this.clock.nowMs() + this.ttlMs);
  }

  private async run<T>(what: string, f: () => Promise<T>): Promise<FsResult<T>> {
    try {
      return ok(await f());
    } catch (e) {
      return fail(toErrno(e, what));
    }
  }

  set(ctx: OpContext, path: string, name: string, value: Uint8Array, flags: number): Promise<FsResult<void>> {
    return this.run(`setxattr ${path} ${name}`, async () => {
      checkName(name);
      const ino = (await this.paths.attr(path)).ino;
      this.noCap.delete(ino);
      try {
        await this.cluster.meta('setxattr', { ino, name, value, flags: flags & 3, cred: credOf(ctx) });
      } finally {
        this.paths.forgetIno(ino); // ctime
      }
    });
  }

  /** size undefined: the caller does not know the buffer size (returns the value whole). */
  get(_ctx: OpContext, path: string, name: string, size?: number): Promise<FsResult<Buffer | number>> {
    return this.run(`getxattr ${path} ${name}`, async () => {
      checkName(name);
      const cap = name === 'security.capability';
      const cachedIno = cap ? this.paths.cachedIno(path) : undefined;
      if (cachedIno !== undefined && (this.noCap.get(cachedIno) ?? 0) > this.clock.nowMs()) throw new FsError('ENODATA');
      const ino = (await this.paths.attr(path)).ino;
      if (cap && (this.noCap.get(ino) ?? 0) > this.clock.nowMs()) throw new FsError('ENODATA');
      try {
        return sized(Buffer.from((await this.cluster.meta('getxattr', { ino, name })).value), size);
      } catch (e) {
        if (cap && toErrno(e) === 'ENODATA' && this.ttlMs > 0) {
          if (this.noCap.size > 10_000) this.noCap.clear();
          this.noCap.set(ino, this.clock.nowMs() + this.ttlMs);
        }
        throw e;
      }
    });
  }

  list(_ctx: OpContext, path: string, size?: number): Promise<FsResult<Buffer | number>> {
    return this.run(`listxattr ${path}`, async () => {
      const ino = (await this.paths.attr(path)).ino;
      const names = (await this.cluster.meta('listxattr', { ino })).names;
      return sized(Buffer.concat(names.map((n) => Buffer.from(n + '\0'))), size);
    });
  }

  remove(ctx: OpContext, path: string, name: string): Promise<FsResult<void>> {
    return this.run(`removexattr ${path} ${name}`, async () => {
      checkName(name);
      const ino = (await this.paths.attr(path)).ino;
      this.noCap.delete(ino);
      try {
        await this.cluster.meta('removexattr', { ino, name, cred: credOf(ctx) });
      } finally {
        this.paths.forgetIno(ino); // ctime
      }
    });
  }
}

const NAMESPACES = ['user.', 'trusted.', 'security.', 'system.'];
/** Linux accepts only names in a known namespace (EOPNOTSUPP), with something after the prefix (EINVAL). */
function checkName(name: string): void {
  const ns = NAMESPACES.find((p) => name.startsWith(p));
  if (!ns) throw new FsError('EOPNOTSUPP');
  if (name.length === ns.length) throw new FsError('EINVAL');
}

function sized(v: Buffer, size: number | undefined): Buffer | number {
  if (size === undefined) return v;
  if (size === 0) return v.byteLength;
  if (size < v.byteLength) throw new FsError('ERANGE');
  return v;
}
