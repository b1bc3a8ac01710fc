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
  /** Paths whose security.capability answer is being renewed (at most one renewal each). */
  private readonly renewing = new Set<string>();
  /** Moves at every xattr change made through this mount: an answer asked for before one is not remembered. */
  private epoch = 0;

  constructor(
    private readonly cluster: ClusterApi, private readonly paths: PathCache, private readonly clock: VfsClock, private readonly ttlMs: number,
    /** Before asking the cluster about `ino`'s xattrs (write: to change them): lands what this mount holds back that they depend on. */
    private readonly settle: (ino: number, write: boolean) => Promise<void> = async () => {},
  ) {}

  /** An inode this mount just created: it has no xattrs, so security.capability needs no round trip for a while. */
  noneYet(ino: number): void {
    if (this.ttlMs <= 0) return;
    this.remember(ino, this.clock.nowMs() + this.ttlMs);
  }

  /** Another mount changed `ino` (it may have set security.capability): ask again. */
  forgetIno(ino: number): void {
    this.noCap.delete(ino);
    this.epoch++;
  }

  /** Everything may have changed elsewhere. */
  clear(): void {
    this.noCap.clear();
    this.epoch++;
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
      await this.settle(ino, true);
      this.noCap.delete(ino);
      this.epoch++;
      try {
        await this.cluster.meta('setxattr', { ino, name, value, flags: flags & 3, cred: credOf(ctx) });
      } finally {
        this.paths.forgetIno(ino); // ctime
      }
    });
  }

  /** size undefined: the caller does not know the buffer size (returns the value whole). */
  get(_ctx: OpContext, path: string, name: string, size?: number): Promise<FsResult<Buffer | number>> {
    if (name === 'security.capability') {
      // The kernel asks before every write (it holds the inode lock meanwhile): answered from memory
      // whenever the answer is younger than the TTL, and renewed in the background before it expires,
      // so a steady writer never waits for a round trip (one that waited behind compaction traffic on
      // a busy leader took up to 0.5 s, a third of a random-write run).
      const cachedIno = this.paths.cachedIno(path);
      if (cachedIno !== undefined && this.noCapFresh(cachedIno, path)) return Promise.resolve(fail('ENODATA'));
    }
    return this.run(`getxattr ${path} ${name}`, async () => {
      checkName(name);
      const cap = name === 'security.capability';
      const ino = (await this.paths.attr(path)).ino;
      if (cap && this.noCapFresh(ino, path)) throw new FsError('ENODATA');
      await this.settle(ino, false);
      return sized(Buffer.from(await this.fetch(ino, name)), size);
    });
  }

  /** getxattr on the cluster; a security.capability that is absent is remembered for the TTL. */
  private async fetch(ino: number, name: string): Promise<Uint8Array> {
    const asked = this.clock.nowMs();
    const epoch = this.epoch;
    try {
      return (await this.cluster.meta('getxattr', { ino, name })).value;
    } catch (e) {
      const unchanged = epoch === this.epoch; // else a set/remove here may have overtaken this answer
      if (name === 'security.capability' && toErrno(e) === 'ENODATA' && this.ttlMs > 0 && unchanged) this.remember(ino, asked + this.ttlMs);
      throw e;
    }
  }

  private remember(ino: number, until: number): void {
    if (this.noCap.size > 10_000) this.noCap.clear();
    this.noCap.set(ino, Math.max(until, this.noCap.get(ino) ?? 0));
  }

  /**
   * Whether `ino` (what `path` names now) is known to have no security.capability. Past half its TTL
   * the answer is renewed in the background: the path is looked up afresh (which keeps the path
   * cache's entry young too) and the attribute asked for; both answers count from when they were
   * asked, so nothing is answered from older than the TTL, as before.
   */
  private noCapFresh(ino: number, path: string): boolean {
    const until = this.noCap.get(ino) ?? 0;
    const now = this.clock.nowMs();
    if (until <= now) return false;
    if (until - now < this.ttlMs / 2 && !this.renewing.has(path)) {
      this.renewing.add(path);
      void this.renew(path).finally(() => this.renewing.delete(path));
    }
    return true;
  }

  private async renew(path: string): Promise<void> {
    try {
      const ino = (await this.paths.attr(path, true)).ino;
      await this.fetch(ino, 'security.capability');
      this.noCap.delete(ino); // it has one now (set by another mount)
    } catch {
      // ENODATA: remembered by fetch. Anything else: the entry expires and the next ask waits for it.
    }
  }

  list(_ctx: OpContext, path: string, size?: number): Promise<FsResult<Buffer | number>> {
    return this.run(`listxattr ${path}`, async () => {
      const ino = (await this.paths.attr(path)).ino;
      await this.settle(ino, false);
      const names = (await this.cluster.meta('listxattr', { ino })).names;
      return sized(Buffer.concat(names.map((n) => Buffer.from(n + '\0'))), size);
    });
  }

  remove(ctx: OpContext, path: string, name: string): Promise<FsResult<void>> {
    return this.run(`removexattr ${path} ${name}`, async () => {
      checkName(name);
      const ino = (await this.paths.attr(path)).ino;
      await this.settle(ino, true);
      this.noCap.delete(ino);
      this.epoch++;
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
