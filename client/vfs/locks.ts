import { fail, FsError, isErrno, ok, type Errno, type FsResult } from '../../shared/errno.js';
import type { LockGrantedPush, OpResults } from '../../shared/protocol/ops.js';
import type { Ino } from '../../shared/types.js';
import { toErrno } from '../rpc/errno.js';
import type { MetaArgs } from '../rpc/cluster-client.js';
import type { Files } from './files.js';
import type { KernelCache } from './kernel-cache.js';
import type { VfsClock } from './types.js';
import type { Logger } from '../../shared/log.js';

/** Linux values (client/fuse/binding.ts checks them against the addon). */
const F_GETLK = 5, F_SETLKW = 7, F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
const LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
/** Inclusive range end meaning "to end of file" (the state machine's OFFSET_MAX). */
export const LOCK_END_MAX = Number.MAX_SAFE_INTEGER;

export interface FileLockArg {
  type: number;
  whence: number;
  start: number;
  len: number;
  pid: number;
}

/** What the lock layer needs of the cluster client (ClusterClient, or a fake). */
export interface LockCluster {
  meta<O extends 'lock' | 'getlk' | 'lockWait' | 'lockCancel' | 'getattr'>(op: O, args: MetaArgs<O>): Promise<OpResults[O]>;
  /** When the current lease began (send time of the last successful open/renew, client clock) and how long it is. */
  lease(): { startMs: number; leaseMs: number } | null;
}

type LockOpArgs = MetaArgs<'lock'>;

/**
 * Cross-client fcntl and flock locks for the FUSE adapter (docs/locking.md). Requests go to the
 * cluster as lock entries; a blocking one that is queued waits for the node's `lockGranted` push,
 * then confirms with lockWait (the push is only a wake-up). No request timeout applies to the wait;
 * an interrupt cancels the waiter (undoing a grant that raced it) and answers EINTR.
 *
 * Fencing (DESIGN.md invariant 5): a lock is trusted only while the lease is younger than half its
 * length. Past that, or once the session was replaced, every handle open on a file this mount holds
 * locks on is fenced: its writes and lock operations fail with EIO until the file is reopened.
 */
export class VfsLocks {
  private readonly wakers = new Map<number, () => void>();
  private readonly early = new Set<number>();
  /** Lock owners ('p…' POSIX, 'f…' flock) that may hold locks, per inode: an unlock for others needs no entry. */
  private readonly held = new Map<Ino, Set<string>>();
  /** POSIX-lock owners in `held` (a count, so that the binding hears only of changes to and from zero). */
  private posixOwners = 0;
  private posixHeld: ((held: boolean) => void) | undefined;
  private readonly fenced = new Set<number>(); // fds

  private kernel: KernelCache | undefined;

  constructor(private readonly cluster: LockCluster, private readonly files: Files, private readonly clock: VfsClock, private readonly log: Logger) {}

  /** F_GETLK, F_SETLK, F_SETLKW. Answers the conflicting lock for F_GETLK (type F_UNLCK if none). */
  async posix(fd: number, cmd: number, l: FileLockArg, owner: bigint, signal?: AbortSignal): Promise<FsResult<FileLockArg | undefined>> {
    try {
      const ino = this.guard(fd, l.type === F_UNLCK);
      if (ino === null) return ok(undefined);
      const start = Math.min(l.start, LOCK_END_MAX);
      const end = l.len === 0 ? LOCK_END_MAX : Math.min(start + l.len - 1, LOCK_END_MAX);
      const who = `p${owner.toString(16)}`;
      if (cmd === F_GETLK) return ok(await this.getlk(ino, who, l, start, end));
      const type = l.type === F_RDLCK ? 'r' : l.type === F_WRLCK ? 'w' : 'u';
      const r = await this.set(ino, { ino, owner: who, kind: 'posix', type, start, end, pid: l.pid, wait: cmd === F_SETLKW }, signal);
      return r ? fail(r) : ok(undefined);
    } catch (e) {
      return fail(toErrno(e, `lock ${fd}`));
    }
  }

  /** flock(2): LOCK_SH / LOCK_EX / LOCK_UN, with LOCK_NB for no waiting. The owner is the open file. */
  async flock(fd: number, op: number, owner: bigint, signal?: AbortSignal): Promise<FsResult<void>> {
    try {
      const un = (op & LOCK_UN) !== 0;
      const ino = this.guard(fd, un);
      if (ino === null) return ok(undefined);
      const type = un ? 'u' : op & LOCK_EX ? 'w' : op & LOCK_SH ? 'r' : null;
      if (type === null) return fail('EINVAL');
      const r = await this.set(ino, { ino, owner: `f${owner.toString(16)}`, kind: 'flock', type, start: 0, end: LOCK_END_MAX, pid: 0, wait: !(op & LOCK_NB) }, signal);
      return r ? fail(r) : ok(undefined);
    } catch (e) {
      return fail(toErrno(e, `flock ${fd}`));
    }
  }

  /** release with flock_release: the last close of an open file drops its flock. Call before the handle goes. */
  async releaseFlock(fd: number, owner: bigint): Promise<void> {
    await this.flock(fd, LOCK_UN, owner);
  }

  /** The handle is closed: its fence (if any) goes with it. */
  forget(fd: number): void {
    this.fenced.delete(fd);
  }

  /** EIO for a write through a fenced handle, or one on a lock-holding file once the lease is not fresh. */
  checkWrite(fd: number): Errno | undefined {
    if (this.fenced.has(fd)) return 'EIO';
    const h = this.files.handles.get(fd);
    if (h && this.held.get(h.ino)?.size && !this.leaseFresh()) {
      this.fence(h.ino, 'lease not renewed in time');
      return 'EIO';
    }
    return undefined;
  }

  /** Whether a data commit of `ino` may go out (and may be retried under a new session). */
  mayCommit(ino: Ino): boolean {
    if (!this.held.get(ino)?.size) return true;
    if (this.leaseFresh()) return true;
    this.fence(ino, 'lease not renewed in time');
    return false;
  }

  /**
   * A data commit of `ino`: refused (EIO) on a fenced file, and EIO instead of ESTALE when the
   * session lapsed under a file with locks (the cluster client does not retry those under a new session).
   */
  async guardCommit<T>(ino: Ino, send: () => Promise<T>): Promise<T> {
    if (!this.mayCommit(ino)) throw new FsError('EIO', `inode ${ino} is fenced`);
    try {
      return await send();
    } catch (e) {
      if (this.holdsLocks(ino) && toErrno(e) === 'ESTALE') {
        this.fence(ino, 'session expired on the cluster');
        throw new FsError('EIO', 'session expired while holding locks');
      }
      throw e;
    }
  }

  /** Locks held on `ino` by this mount, as far as it knows. */
  holdsLocks(ino: Ino): boolean {
    return (this.held.get(ino)?.size ?? 0) > 0;
  }

  /** The session was replaced (the old lease lapsed on the cluster): every lock of this mount is gone. */
  sessionReplaced(): void {
    for (const ino of [...this.held.keys()]) this.fence(ino, 'session replaced');
  }

  /** A node's push: a queued waiter was granted (or failed). */
  onPush(name: string, data: unknown): void {
    if (name !== 'lockGranted') return;
    const waiter = (data as LockGrantedPush | undefined)?.waiter;
    if (typeof waiter !== 'number') return;
    const wake = this.wakers.get(waiter);
    if (wake) wake();
    else this.early.add(waiter); // the push overtook the queued reply
    if (this.early.size > 1024) this.early.delete(this.early.values().next().value as number);
  }

  /** A connection closed: the node it went to may have held our registrations, so every waiter re-asks. */
  onConnectionLost(): void {
    for (const wake of [...this.wakers.values()]) wake();
  }

  private leaseFresh(): boolean {
    const l = this.cluster.lease();
    return l !== null && this.clock.nowMs() - l.startMs < l.leaseMs / 2;
  }

  /** The inode of a usable handle; null when the op is an unlock on a fenced handle (nothing left to unlock). */
  private guard(fd: number, unlock: boolean): Ino | null {
    const ino = this.files.handle(fd).ino;
    if (this.fenced.has(fd)) {
      if (unlock) return null;
      throw new FsError('EIO', `handle ${fd} is fenced: reopen the file`);
    }
    if (!unlock && this.held.get(ino)?.size && !this.leaseFresh()) {
      this.fence(ino, 'lease not renewed in time');
      throw new FsError('EIO', 'lease not renewed in time');
    }
    return ino;
  }

  /** Fences every handle open on `ino` and drops what this mount holds there (best effort: the lease may still live). */
  private fence(ino: Ino, why: string): void {
    const owners = [...(this.held.get(ino) ?? [])]; // a copy: forgetOwner empties the set
    for (const o of owners) this.forgetOwner(ino, o);
    this.held.delete(ino);
    for (const h of this.files.handles.values()) if (h.ino === ino) this.fenced.add(h.fd);
    this.log.warn(`locks on inode ${ino} fenced (${why}): writes and lock calls on its open handles fail with EIO until reopened`);
    for (const o of owners) {
      const args: LockOpArgs = { ino, owner: o, kind: o[0] === 'f' ? 'flock' : 'posix', type: 'u', start: 0, end: LOCK_END_MAX, pid: 0, wait: false };
      this.cluster.meta('lock', args).catch(() => undefined);
    }
  }

  private async getlk(ino: Ino, owner: string, l: FileLockArg, start: number, end: number): Promise<FileLockArg> {
    const type = l.type === F_RDLCK ? 'r' : 'w';
    const r = await this.cluster.meta('getlk', { ino, owner, type, start, end });
    const c = r.conflict;
    if (!c) return { ...l, type: F_UNLCK };
    return { type: c.type === 'w' ? F_WRLCK : F_RDLCK, whence: 0, start: c.start, len: c.end >= LOCK_END_MAX ? 0 : c.end - c.start + 1, pid: c.pid };
  }

  /** Sends a lock/unlock; waits for the grant of a queued one. Returns an errno, or undefined on success. */
  private async set(ino: Ino, args: LockOpArgs, signal?: AbortSignal): Promise<Errno | undefined> {
    const owners = this.held.get(ino);
    if (args.type === 'u' && !owners?.has(args.owner)) return undefined; // flush of a process that never locked here
    if (args.type !== 'u') this.remember(ino, args.owner);
    // As NFS does: writes made under a lock are committed before it goes, so the next holder sees them.
    if (args.type === 'u') await this.files.flushIno(ino);
    const r = await this.cluster.meta('lock', args);
    if (args.type === 'u' && args.start === 0 && args.end === LOCK_END_MAX) this.forgetOwner(ino, args.owner);
    const err = r.state === 'granted' ? undefined : await this.waitFor(r.waiter, signal);
    // ...and a new holder reads what the previous one committed, not this mount's cached chunks.
    if (!err && args.type !== 'u') await this.revalidate(ino);
    return err;
  }

  /** The mount caches pages in the kernel too (kernel-cache.ts): a grant drops them. */
  attachKernel(k: KernelCache): void {
    this.kernel = k;
  }

  private async revalidate(ino: Ino): Promise<void> {
    // This mount's cached chunks go first, and pages of reads made before the grant must land before
    // the kernel's are dropped (kernel-pages.ts), so nothing older than the grant is kept anywhere.
    const st = this.files.inodes.get(ino);
    if (st) {
      st.reader.invalidate();
      this.files.effective(await this.cluster.meta('getattr', { ino })); // takes the fresh size and version
    }
    await this.files.settlePages(ino);
    await this.kernel?.dropInodeData(ino);
  }

  /**
   * `cb(held)` now and whenever this mount goes from holding no POSIX lock to holding (or waiting for)
   * one, and back. The FUSE binding answers the unlock that libfuse sends on every flush by itself
   * while none is held (posix() would find nothing to unlock), saving a round trip per close.
   */
  watchPosixLocks(cb: (held: boolean) => void): void {
    this.posixHeld = cb;
    cb(this.posixOwners > 0);
  }

  private remember(ino: Ino, owner: string): void {
    let s = this.held.get(ino);
    if (!s) this.held.set(ino, (s = new Set()));
    if (s.has(owner)) return;
    s.add(owner);
    if (owner[0] === 'p' && ++this.posixOwners === 1) this.posixHeld?.(true);
  }

  private forgetOwner(ino: Ino, owner: string): void {
    if (!this.held.get(ino)?.delete(owner)) return;
    if (owner[0] === 'p' && --this.posixOwners === 0) this.posixHeld?.(false);
  }

  /** Waits for waiter `id`: push, then lockWait to confirm; an abort cancels it (EINTR). */
  private async waitFor(id: number, signal?: AbortSignal): Promise<Errno | undefined> {
    for (;;) {
      const woke = this.wakeOf(id);
      const aborted = signal ? new Promise<'abort'>((r) => (signal.aborted ? r('abort') : signal.addEventListener('abort', () => r('abort'), { once: true }))) : null;
      const why = await Promise.race(aborted ? [woke, aborted] : [woke]);
      this.wakers.delete(id);
      if (why === 'abort') return this.cancel(id);
      const s = await this.cluster.meta('lockWait', { waiter: id });
      if (s.state === 'granted') return undefined;
      if (s.state === 'failed') return isErrno(s.errno) ? s.errno : 'ENOLCK';
      if (s.state === 'gone') return 'EIO'; // the session ended: the waiter went with it
      if (signal?.aborted) return this.cancel(id);
    }
  }

  private wakeOf(id: number): Promise<'wake'> {
    return new Promise((resolve) => {
      if (this.early.delete(id)) return resolve('wake');
      this.wakers.set(id, () => resolve('wake'));
    });
  }

  private async cancel(id: number): Promise<Errno> {
    await this.cluster.meta('lockCancel', { waiter: id }).catch((e: Error) => {
      // The session is gone or unreachable for the retry budget: its lease will end the waiter.
      this.log.warn(`cancelling lock waiter ${id}: ${e.message}`);
    });
    return 'EINTR';
  }
}
