import { fail, FsError, ok, type FsResult } from '../../shared/errno.js';
import { RENAME_EXCHANGE, type DirChanged } from '../../shared/protocol/ops.js';
import { S_IFMT, S_IFREG, type Attr, type DirEntry, type Ino, type StatFs } from '../../shared/types.js';
import { toErrno } from '../rpc/errno.js';
import { Files } from './files.js';
import type { KernelCache } from './kernel-cache.js';
import { PathCache } from './paths.js';
import { OpenRegistrations } from './registrations.js';
import { accessMaskOfFlags, checkOpenType, holdsPrivs, mayAccess, O_ACCMODE, O_CREAT, O_EXCL, O_RDONLY, O_TRUNC } from './perms.js';
import { credOf, type OpContext, type VfsOptions } from './types.js';
import { Setattrs, type TimeArg } from './setattrs.js';
import { Xattrs } from './xattrs.js';

/**
 * The POSIX layer over the cluster, inode based, free of fuse-native (DESIGN.md "Client"). Paths from
 * the FUSE layer are resolved here; every op returns an FsResult (an errno name, never a throw).
 * Guards first, then one call down.
 */
export class Vfs {
  readonly paths: PathCache;
  readonly files: Files;
  readonly xattrs: Xattrs;
  private readonly setattrs: Setattrs;
  private readonly registrations: OpenRegistrations;
  /** The kernel's attribute and name caches, once mounted with them (attachKernel). */
  private kernel: KernelCache | undefined;

  constructor(private readonly o: VfsOptions) {
    this.paths = new PathCache(o.cluster, o.clock, o.namesTtlMs ?? o.pathTtlMs);
    this.files = new Files(o);
    this.files.onAttr = (a) => { this.paths.updated(a); this.kernel?.learn(a); };
    // An xattr change waits for deferred changes of its file (a chown's takes file capabilities away
    // after it); reading security.capability only for such a chown's.
    this.xattrs = new Xattrs(o.cluster, this.paths, o.clock, o.pathTtlMs, (ino, write) => this.files.settleDeferred(ino, write ? undefined : (c) => !!c.killPriv));
    this.setattrs = new Setattrs(o.cluster, this.paths, this.files, (a) => this.attrChanged(a));
    this.registrations = new OpenRegistrations(o.cluster, o.log);
    o.cluster.onNewSession?.(() => void this.registrations.reregister(this.files.openHandles()));
  }

  private async run<T>(what: string, f: () => Promise<T>): Promise<FsResult<T>> {
    try {
      return ok(await f());
    } catch (e) {
      return fail(toErrno(e, what));
    }
  }

  /** The mount caches attributes and names in the kernel: keep them coherent (client/vfs/kernel-cache.ts). */
  attachKernel(k: KernelCache): void {
    this.kernel = k;
  }

  /** getattr and fgetattr answer the kernel, which caches what they return. */
  getattr(_ctx: OpContext, path: string): Promise<FsResult<Attr>> {
    return this.run(`getattr ${path}`, async () => this.served(this.files.effective(await this.paths.attr(path))));
  }

  fgetattr(_ctx: OpContext, fd: number): Promise<FsResult<Attr>> {
    return this.run(`fgetattr ${fd}`, async () => {
      const h = this.files.handle(fd);
      return this.served(this.files.recentAttr(h.ino) ?? this.files.effective(await this.o.cluster.meta('getattr', { ino: h.ino })));
    });
  }

  /**
   * What fgetattr would answer for a handle without asking the cluster, served as such; undefined if
   * that needs a request (or the handle is gone). Never throws: the adapter calls it in a reply.
   */
  handleAttr(fd: number): Attr | undefined {
    let a: Attr | null = null;
    try {
      a = this.files.recentAttr(this.files.handle(fd).ino);
    } catch { /* no such handle: libfuse's fgetattr will ask */ }
    return a ? this.served(a) : undefined;
  }

  /** A new directory's attributes (mkdir's reply), served to the kernel as getattr would. */
  servedNew(a: Attr): Attr {
    return this.served(this.files.effective(a));
  }

  private served(a: Attr): Attr {
    this.kernel?.serve(a);
    return a;
  }

  /**
   * Another mount changed these inodes and names (the cluster's `changed` push; `all`: the feed had a
   * gap): forget them here and in the kernel.
   */
  remoteChanged(c: { inos?: readonly Ino[]; entries?: readonly (readonly [Ino, string])[]; all?: boolean }): Promise<void> {
    const drops: Promise<void>[] = [];
    this.paths.remoteChange();
    if (c.all) {
      this.files.fencePages();
      this.paths.clear();
      this.xattrs.clear();
      if (this.kernel) drops.push(this.kernel.dropAll());
    }
    for (const ino of c.inos ?? []) {
      this.files.fencePages(ino);
      this.attrStale(ino);
      this.xattrs.forgetIno(ino);
      if (this.kernel) drops.push(this.kernel.dropInode(ino));
    }
    for (const [parent, name] of c.entries ?? []) {
      this.paths.forgetEntry(parent, name);
      if (this.kernel) drops.push(this.kernel.dropEntry(parent, name));
    }
    return Promise.all(drops).then(() => {});
  }

  access(ctx: OpContext, path: string, mask: number): Promise<FsResult<void>> {
    return this.run(`access ${path}`, async () => {
      const attr = this.files.effective(await this.paths.attr(path));
      if (mask && !mayAccess(attr, credOf(ctx), mask)) throw new FsError('EACCES');
    });
  }

  readdir(_ctx: OpContext, path: string): Promise<FsResult<DirEntry[]>> {
    return this.run(`readdir ${path}`, async () => {
      const ino = await this.paths.ino(path);
      const out: DirEntry[] = [];
      let after: string | undefined;
      for (;;) {
        const r = await this.o.cluster.meta('readdir', after === undefined ? { ino } : { ino, after });
        out.push(...r.entries);
        if (!r.more || !r.entries.length) return out;
        after = r.entries[r.entries.length - 1].name;
      }
    });
  }

  private async parentOf(path: string): Promise<{ parent: Ino; name: string }> {
    const { parent, name } = PathCache.split(path);
    return { parent: await this.paths.ino(parent), name };
  }

  mkdir(ctx: OpContext, path: string, mode: number): Promise<FsResult<Attr>> {
    return this.run(`mkdir ${path}`, async () => {
      const { parent, name } = await this.parentOf(path);
      const pushes = this.paths.pushesSeen();
      const attr = await this.dirChange(path, parent, () => this.o.cluster.meta('mkdir', { parent, name, mode: mode & 0o7777, cred: credOf(ctx) }));
      this.paths.madeDir(attr, pushes);
      return attr;
    });
  }

  mknod(ctx: OpContext, path: string, mode: number, rdev: number): Promise<FsResult<Attr>> {
    return this.run(`mknod ${path}`, async () => {
      const { parent, name } = await this.parentOf(path);
      const full = mode & S_IFMT ? mode : mode | S_IFREG;
      return this.dirChange(path, parent, () => this.o.cluster.meta('mknod', { parent, name, mode: full, rdev, cred: credOf(ctx) }));
    });
  }

  symlink(ctx: OpContext, target: string, path: string): Promise<FsResult<Attr>> {
    return this.run(`symlink ${path}`, async () => {
      const { parent, name } = await this.parentOf(path);
      return this.dirChange(path, parent, () => this.o.cluster.meta('symlink', { parent, name, target, cred: credOf(ctx) }));
    });
  }

  /**
   * A new name in `parent`: the request, then the new entry is cached, and the parent's attributes
   * the reply carries (DirChanged) are kept where PathCache.endDirChange allows.
   */
  private async dirChange(path: string, parent: Ino, send: () => Promise<Attr & DirChanged>): Promise<Attr> {
    const t = this.paths.beginDirChange(parent);
    let dirAttr: Attr | undefined;
    try {
      const { parentAttr, ...attr } = await send();
      dirAttr = parentAttr;
      return this.created(path, attr);
    } catch (e) {
      // It may have been applied all the same (an answer lost), or the name was taken meanwhile by
      // another mount: either way the directory may hold a name not cached here.
      this.paths.incomplete(parent);
      throw e;
    } finally {
      this.paths.endDirChange(t, path, dirAttr);
    }
  }

  readlink(_ctx: OpContext, path: string): Promise<FsResult<string>> {
    return this.run(`readlink ${path}`, async () => {
      const attr = await this.paths.attr(path);
      return (await this.o.cluster.meta('readlink', { ino: attr.ino })).target;
    });
  }

  link(ctx: OpContext, from: string, to: string): Promise<FsResult<Attr>> {
    return this.run(`link ${from} ${to}`, async () => {
      await this.files.settleDeferred(); // the cluster checks them as they will be
      const src = await this.paths.attr(from);
      const { parent, name } = await this.parentOf(to);
      return this.dirChange(to, parent, async () => {
        const a = await this.o.cluster.meta('link', { ino: src.ino, parent, name, cred: credOf(ctx) });
        const { parentAttr: _, ...attr } = a;
        this.attrChanged(attr); // the link count of every name of it
        await this.kernel?.settle(attr.ino); // the kernel cached the old count under the first name
        return a;
      });
    });
  }

  unlink(ctx: OpContext, path: string): Promise<FsResult<void>> {
    return this.run(`unlink ${path}`, async () => {
      // libfuse's last close of a file it hid (see rename): the cluster unlinked it already.
      if (this.paths.hiddenIno(path, true) !== undefined) return;
      await this.files.settleDeferred(); // a sticky directory lets the file's owner unlink it
      const { parent, name } = await this.parentOf(path);
      const cached = this.paths.cachedIno(path);
      const t = this.paths.beginDirChange(parent);
      let dirAttr: Attr | undefined;
      let ino: Ino | undefined;
      try {
        const r = await this.o.cluster.meta('unlink', { parent, name, cred: credOf(ctx) });
        dirAttr = r.parentAttr;
        ino = r.ino;
      } finally {
        this.paths.forget(path, false, ino !== undefined); // first: the name is gone, not lost
        this.attrStale(ino); // other hard links: link count and ctime moved
        this.attrStale(cached);
        this.paths.endDirChange(t, path, dirAttr);
      }
    });
  }

  rmdir(ctx: OpContext, path: string): Promise<FsResult<void>> {
    return this.run(`rmdir ${path}`, async () => {
      const { parent, name } = await this.parentOf(path);
      const t = this.paths.beginDirChange(parent);
      let dirAttr: Attr | undefined;
      let gone = false;
      try {
        dirAttr = (await this.o.cluster.meta('rmdir', { parent, name, cred: credOf(ctx) })).parentAttr;
        gone = true;
      } finally {
        this.paths.forget(path, true, gone);
        this.paths.endDirChange(t, path, dirAttr);
      }
    });
  }

  rename(ctx: OpContext, from: string, to: string, flags = 0): Promise<FsResult<void>> {
    return this.run(`rename ${from} ${to}`, async () => {
      if (PathCache.isHiddenPath(to) && !flags) return this.hideOpen(ctx, from, to);
      await this.files.settleDeferred(); // a sticky directory lets the file's owner rename it
      const a = await this.parentOf(from);
      const b = await this.parentOf(to);
      const moved = this.paths.cachedIno(from);
      const replaced = this.paths.cachedIno(to);
      let gone = false;
      try {
        await this.o.cluster.meta('rename', { parent: a.parent, name: a.name, newParent: b.parent, newName: b.name, flags, cred: credOf(ctx) });
        gone = !(flags & RENAME_EXCHANGE); // after an exchange the old name still exists
      } finally {
        this.paths.incomplete(b.parent); // the name it has now is not cached
        this.paths.forget(from, true, gone);
        this.paths.forget(to, true);
        this.attrStale(moved); // its ctime moved
        this.attrStale(replaced); // its link count dropped
      }
    });
  }

  /**
   * libfuse 2.9 does not unlink a file that is open here: it renames it to .fuse_hiddenN and unlinks
   * that at the last close (hard_remove would avoid that, but then fstat, fchmod and fchown of the
   * open file fail with ENOENT, since the kernel sends them without the file handle). So the rename
   * becomes a real unlink on the cluster, which keeps the inode while this session has it open, and
   * the hidden name lives only here: no mount ever lists it, and its ops reach the inode.
   */
  private async hideOpen(ctx: OpContext, from: string, to: string): Promise<void> {
    // The cluster knows it is open: every open registers before it returns (create in its mknod entry),
    // except read-only ones, whose queued registration this unlink carries ahead of itself.
    const ino = (await this.paths.attr(from, true)).ino;
    await this.unlink(ctx, from).then((r) => { if (!r.ok) throw new FsError(r.errno); });
    this.paths.hide(to, ino);
  }

  chmod(ctx: OpContext, path: string, mode: number): Promise<FsResult<Attr>> {
    return this.run(`chmod ${path}`, () => this.setattrs.chmod(ctx, path, mode));
  }

  chown(ctx: OpContext, path: string, uid: number, gid: number): Promise<FsResult<Attr>> {
    return this.run(`chown ${path}`, () => this.setattrs.chown(ctx, path, uid, gid));
  }

  utimens(ctx: OpContext, path: string, atime: TimeArg, mtime: TimeArg): Promise<FsResult<Attr>> {
    return this.run(`utimens ${path}`, () => this.setattrs.utimens(ctx, path, atime, mtime));
  }

  truncate(ctx: OpContext, path: string, size: number): Promise<FsResult<Attr>> {
    return this.run(`truncate ${path}`, () => this.setattrs.truncate(ctx, path, size));
  }

  ftruncate(ctx: OpContext, fd: number, size: number): Promise<FsResult<Attr>> {
    return this.run(`ftruncate ${fd}`, () => this.setattrs.ftruncate(ctx, fd, size));
  }

  open(ctx: OpContext, path: string, flags: number): Promise<FsResult<number>> {
    return this.run(`open ${path}`, async () => {
      await this.files.settleDeferred(); // the cluster decides the open on the mode and owner as they will be
      // By name: one request resolves, checks, registers and revalidates (no lookup before it). A
      // truncating open needs the inode first, to land this mount's buffered writes before the cut.
      if (!(flags & O_TRUNC) && path !== '/' && path !== '' && this.paths.hiddenIno(path) === undefined) return this.openByName(ctx, path, flags);
      const attr = await this.paths.attr(path, true);
      checkOpenType(attr, flags);
      return this.openIno(ctx, attr, flags);
    });
  }

  /**
   * A read-only open (no O_TRUNC) is answered by the leader without a Raft entry (`openRead`) and
   * registered by a later request, or not at all if it closes first: unlinked files are kept for a
   * grace period that covers the gap (docs/decisions.md). Others register in their own entry.
   */
  private async openByName(ctx: OpContext, path: string, flags: number): Promise<number> {
    const { parent, name } = await this.parentOf(path);
    const later = this.o.cluster.openLater && (flags & O_ACCMODE) === O_RDONLY;
    let fresh: Attr;
    try {
      const args = { parent, name, flags, cred: credOf(ctx) };
      fresh = later ? await this.o.cluster.meta('openRead', args) : await this.o.cluster.meta('open', args);
      if (later) this.o.cluster.openLater!(fresh.ino);
    } catch (e) {
      if (toErrno(e) === 'ENOENT') {
        // The name is gone: so must be what the kernel cached under it, before the other mount's push
        // says so (its stat would otherwise still find it).
        this.paths.forget(path);
        await this.kernel?.dropEntry(parent, name);
      }
      throw e;
    }
    try {
      // The node checked the access mode already; these are the client's own refusals, made on the
      // attributes the open returned, so the registration it made is undone.
      checkOpenType(fresh, flags);
      if (!mayAccess(fresh, credOf(ctx), accessMaskOfFlags(flags))) throw new FsError('EACCES');
    } catch (e) {
      this.registrations.release(fresh.ino);
      throw e;
    }
    this.paths.remember(path, fresh);
    this.attrChanged(fresh);
    await this.kernel?.settle(fresh.ino); // close-to-open: another mount's close shows in fresh
    return this.added(fresh, flags);
  }

  /** Registers the open with the session (so an unlinked file lives until its last close) and revalidates. */
  private async openIno(ctx: OpContext, attr: Attr, flags: number): Promise<number> {
    if (!mayAccess(attr, credOf(ctx), accessMaskOfFlags(flags))) throw new FsError('EACCES');
    if (flags & O_TRUNC) await this.files.flushIno(attr.ino);
    // No wait for a queued release of this inode: open counts add up in any order, and the only thing
    // a count decides (collecting a nameless inode) cannot race an open, which needs a name.
    const fresh = await this.o.cluster.meta('open', { ino: attr.ino, flags, cred: credOf(ctx) });
    this.attrChanged(fresh);
    if (flags & O_TRUNC) this.files.truncated(fresh);
    await this.kernel?.settle(fresh.ino); // close-to-open: another mount's close shows in fresh
    return this.added(fresh, flags);
  }

  /**
   * The handle of an open that revalidated `attr`. The open's answer may make the kernel drop the
   * file's pages (auto_cache: mtime or size moved), so pages of reads made before it must have
   * landed by then, and later ones are refused (kernel-pages.ts).
   */
  private async added(attr: Attr, flags: number): Promise<number> {
    const fd = this.files.add(attr, flags);
    await this.files.settlePages(attr.ino);
    return fd;
  }

  create(ctx: OpContext, path: string, mode: number, flags = O_CREAT): Promise<FsResult<number>> {
    return this.run(`create ${path}`, async () => {
      const { parent, name } = await this.parentOf(path);
      let attr: Attr;
      try {
        // `open`: the creator's open is registered in the same entry (the creator may write even if
        // the new mode denies it, as open(2) with O_CREAT allows), so no other mount's unlink comes between.
        attr = await this.dirChange(path, parent, () => this.o.cluster.meta('mknod', { parent, name, mode: (mode & 0o7777) | S_IFREG, rdev: 0, cred: credOf(ctx), open: true }));
      } catch (e) {
        // Another mount created it since the kernel looked: without O_EXCL, open the file that is there.
        if (toErrno(e) !== 'EEXIST' || flags & O_EXCL) throw e;
        await this.files.settleDeferred();
        return this.openIno(ctx, await this.paths.attr(path, true), flags & ~O_CREAT);
      }
      this.xattrs.noneYet(attr.ino); // a new file has no xattrs: its first write needs no capability lookup
      return this.files.add(attr, flags);
    });
  }

  read(_ctx: OpContext, fd: number, off: number, len: number): Promise<FsResult<Buffer>> {
    return this.run(`read ${fd}`, () => this.files.read(fd, off, len));
  }

  write(ctx: OpContext, fd: number, off: number, data: Uint8Array): Promise<FsResult<number>> {
    return this.run(`write ${fd}`, async () => {
      // The kernel leaves this to us (FUSE_HANDLE_KILLPRIV_V2) and no longer asks for capabilities
      // before each write: an unprivileged writer's first write takes setuid/setgid away, as
      // Linux's file_remove_privs does, before it returns (fstat on the descriptor shows it at once).
      // The commit takes them (and file capabilities) again in its own entry, whatever this mount held.
      const h = this.files.handle(fd);
      await this.files.settleDeferred(h.ino); // a deferred chmod may have given setuid back
      if (ctx.uid !== 0 && (h.flags & O_ACCMODE) !== O_RDONLY && holdsPrivs(this.files.attrOf(h.ino), ctx)) await this.setattrs.dropPrivs(ctx, h.ino);
      return this.files.write(ctx, fd, off, data);
    });
  }

  flush(_ctx: OpContext, fd: number): Promise<FsResult<void>> {
    return this.run(`flush ${fd}`, async () => {
      const ino = this.files.handle(fd).ino;
      await this.files.flushIno(ino);
      await this.kernel?.settle(ino); // the commit moved mtime/ctime past what the kernel may hold
    });
  }

  fsync(ctx: OpContext, fd: number): Promise<FsResult<void>> {
    return this.flush(ctx, fd);
  }

  release(_ctx: OpContext, fd: number): Promise<FsResult<void>> {
    return this.run(`release ${fd}`, async () => {
      const ino = this.files.handle(fd).ino;
      try {
        await this.files.release(fd); // the data is durable and committed before close returns
        await this.kernel?.settle(ino);
      } finally {
        // The open count on the cluster only decides when an unlinked file is collected: no need to
        // wait. The cluster client queues it for the next request to carry (or sends queued ones together).
        this.registrations.release(ino);
      }
    });
  }

  statfs(_ctx: OpContext): Promise<FsResult<StatFs>> {
    return this.run('statfs', () => this.o.cluster.meta('statfs', {}));
  }

  private attrChanged(a: Attr): void {
    this.paths.updated(a);
    this.files.noteAttr(a);
    this.kernel?.learn(a);
  }

  private attrStale(ino: Ino | undefined): void {
    this.paths.forgetIno(ino);
    this.files.staleAttr(ino);
  }

  /** A new name: its parent's attributes changed, and the new entry is known. */
  private created(path: string, attr: Attr): Attr {
    this.paths.forget(path);
    this.paths.remember(path, attr);
    return attr;
  }

  /** Flushes everything buffered (unmount, SIGTERM). */
  async destroy(): Promise<void> {
    await this.files.flushAll();
    await this.registrations.settled();
  }
}
