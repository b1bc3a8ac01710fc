import { FsError } from '../../shared/errno.js';
import { FILE_BYTES_MAX } from '../../shared/limits.js';
import { compareTime, timeFromMs } from '../../shared/time.js';
import type { OpenLayout } from '../../shared/protocol/ops.js';
import type { Attr, Ino } from '../../shared/types.js';
import { Compactor } from './compact.js';
import { storeWindow, type KernelPages } from './kernel-pages.js';
import { FileReader, type Around } from './reader.js';
import { O_ACCMODE, O_APPEND, O_RDONLY, O_WRONLY } from './perms.js';
import { credOf, type OpContext, type VfsOptions } from './types.js';
import { FileWriter } from './writer.js';
import { applyChange, DEFERRED_MAX, mayDefer, type AttrChange } from './deferred-attrs.js';

/** What this mount knows of an inode while it is open or has buffered writes. */
export interface InodeState {
  ino: Ino;
  attr: Attr; // as the cluster last reported it
  attrAtMs: number; // when; fstat answers from `attr` while it is younger than the cache TTL
  writer: FileWriter;
  reader: FileReader;
  handles: number;
  /** Handles open for writing: while there are any, no read data is put into the kernel's page cache. */
  writers: number;
  /** Bytes of the windows random reads have handed to the kernel's page cache: how wide the next one is (storeWindow). */
  storedAround: number;
}

export interface Handle {
  fd: number;
  ino: Ino;
  flags: number;
}

const HANDLES_MAX = 1 << 20;

/**
 * Open files: the handle table (fd → inode, flags) and per-inode state (write buffer, read cache).
 * Handles of one inode share its state, so read-after-write holds across handles of this mount.
 */
export class Files {
  readonly handles = new Map<number, Handle>();
  readonly inodes = new Map<Ino, InodeState>();
  private nextFd = 1;
  /** Inodes that have held deferred changes since the last settleDeferred looked (a superset of those holding some). */
  private readonly deferring = new Set<Ino>();
  /** Told of attributes a commit returned, so cached stats of every name of the inode follow. */
  onAttr: (a: Attr) => void = () => {};

  readonly compactor: Compactor;
  /** Puts read data into the kernel's page cache, on mounts that keep it (attachPages). */
  private pages: KernelPages | undefined;

  constructor(private readonly o: VfsOptions) {
    this.compactor = new Compactor(o);
    this.compactor.onCompacted = (a, chunk) => this.compacted(a, chunk);
  }

  /**
   * A chunk's layout changed (same bytes, new blocks): cached layouts name blocks that may go away.
   * Its reply can arrive after that of a later commit (the two are not ordered here): attributes
   * older than those held are not taken.
   */
  private compacted(a: Attr, chunk: number): void {
    const st = this.inodes.get(a.ino);
    if (st) {
      // Only this chunk changed if nothing else moved the version meanwhile; else drop everything.
      if (st.reader.version === a.version - 1) st.reader.invalidate(new Set([chunk]));
      else st.reader.invalidate();
      st.reader.version = Math.max(st.reader.version, a.version);
      if (a.version <= st.attr.version) return;
      this.noteAttr(a);
    }
    this.onAttr(a);
  }

  state(attr: Attr): InodeState {
    let st = this.inodes.get(attr.ino);
    if (!st) {
      const writer = new FileWriter(attr.ino, this.o);
      writer.compactor = this.compactor;
      st = { ino: attr.ino, attr, attrAtMs: this.o.clock.nowMs(), writer, reader: new FileReader(attr.ino, this.o), handles: 0, writers: 0, storedAround: 0 };
      const s = st;
      writer.onCommitted = (a, chunks) => {
        s.reader.invalidate(chunks);
        this.pages?.fence(a.ino);
        s.reader.version = a.version;
        this.noteAttr(a);
        this.onAttr(a);
      };
      this.inodes.set(attr.ino, st);
    }
    return st;
  }

  handle(fd: number): Handle {
    const h = this.handles.get(fd);
    if (!h) throw new FsError('EBADF', `no open file ${fd}`);
    return h;
  }

  /** Registers an open of an inode whose attributes were just revalidated (close-to-open). */
  add(attr: Attr & OpenLayout, flags: number): number {
    if (this.handles.size >= HANDLES_MAX) throw new FsError('EAGAIN', 'too many open files');
    const st = this.state(attr);
    if (!st.writer.dirty) this.noteAttr(attr);
    st.reader.revalidate(attr.version);
    if (attr.chunk0 && !st.writer.dirty) st.reader.offerLayout(0, attr.chunk0);
    for (const b of attr.blocks0 ?? []) st.reader.offerBytes(b.block, b.off, b.data);
    st.handles++;
    if ((flags & O_ACCMODE) !== O_RDONLY) st.writers++;
    while (this.handles.has(this.nextFd) || this.nextFd === 0) this.nextFd = (this.nextFd + 1) % HANDLES_MAX;
    const fd = this.nextFd++;
    this.handles.set(fd, { fd, ino: attr.ino, flags });
    return fd;
  }

  /** The attributes this mount holds for an open inode (the cluster's as last seen). */
  attrOf(ino: Ino): Attr {
    return this.inodes.get(ino)!.attr;
  }

  /** Attributes the cluster just returned for an inode (setattr, commit, open, link). */
  noteAttr(a: Attr): void {
    const st = this.inodes.get(a.ino);
    if (!st) return;
    st.attr = a;
    st.attrAtMs = this.o.clock.nowMs();
  }

  /** The cached attributes of an open inode, if young enough to answer fstat (never in strict mode). */
  recentAttr(ino: Ino): Attr | null {
    const st = this.inodes.get(ino);
    if (!st || this.o.clock.nowMs() - st.attrAtMs >= this.o.pathTtlMs) return null;
    return this.effective(st.attr);
  }

  /** Forgets that the cached attributes are recent (link count or ctime moved). */
  staleAttr(ino: Ino | undefined): void {
    const st = ino === undefined ? undefined : this.inodes.get(ino);
    if (st) st.attrAtMs = -Infinity;
  }

  /**
   * Attributes as this mount sees them: the cluster's, plus buffered writes and deferred changes not
   * committed yet.
   */
  effective(a: Attr): Attr {
    const st = this.inodes.get(a.ino);
    if (!st) return a;
    if (a.version >= st.attr.version) st.attr = a;
    let out = this.withWrites(st, a);
    for (const d of st.writer.deferred) out = applyChange(out, d.change, d.at);
    return out;
  }

  private withWrites(st: InodeState, a: Attr): Attr {
    if (!st.writer.dirty) return a;
    const t = timeFromMs(st.writer.lastWriteMs);
    const later = compareTime(t, a.mtime) > 0 ? t : a.mtime;
    const size = Math.max(a.size, st.writer.pendingEnd());
    const out = { ...a, size, mtime: later, ctime: compareTime(t, a.ctime) > 0 ? t : a.ctime };
    // Buffered bytes count as allocated (an overestimate where they overwrite): a file with data must
    // never report 0 blocks, or tar and cp would take it for all holes.
    if (a.allocBytes !== undefined) out.allocBytes = Math.min(size, a.allocBytes + st.writer.pendingBytes());
    return out;
  }

  size(st: InodeState): number {
    return Math.max(st.attr.size, st.writer.pendingEnd());
  }

  async read(fd: number, off: number, len: number): Promise<Buffer> {
    const h = this.handle(fd);
    if ((h.flags & O_ACCMODE) === O_WRONLY) throw new FsError('EBADF');
    const st = this.inodes.get(h.ino)!;
    const size = this.size(st);
    if (off >= size || len <= 0) return Buffer.alloc(0);
    const n = Math.min(len, size - off);
    const pending = st.writer.runs.slice(); // before awaiting: a commit during the read must not hide these bytes
    const pages = this.storable(st) ? this.pages : undefined;
    const snap = pages?.snapshot() ?? 0;
    const around: Around | undefined = pages ? { unit: storeWindow(st.attr.size, st.storedAround) } : undefined;
    // Without buffered writes to lay over it, the reader may hand out a view of its cached bytes.
    let buf = await st.reader.read(off, n, st.attr.size, around, pending.length === 0);
    if (pending.length === 0 && st.writer.runs.length > 0) buf = Buffer.from(buf); // writes came in: overlay our own copy
    st.writer.overlay(buf, off, pending);
    st.writer.overlay(buf, off); // and writes that arrived while we waited
    if (around?.buf && this.storable(st)) {
      pages!.storeAround(h.ino, snap, around.off!, around.buf, off, n);
      st.storedAround += around.buf.byteLength;
    }
    return buf;
  }

  async write(ctx: OpContext, fd: number, off: number, data: Uint8Array): Promise<number> {
    const h = this.handle(fd);
    if ((h.flags & O_ACCMODE) === O_RDONLY) throw new FsError('EBADF');
    const st = this.inodes.get(h.ino)!;
    // O_APPEND: at the size this mount knows, including its own buffered writes.
    const at = h.flags & O_APPEND ? this.size(st) : off;
    if (at + data.byteLength > FILE_BYTES_MAX) throw new FsError('EFBIG');
    await st.writer.write(at, data, credOf(ctx));
    return data.byteLength;
  }

  /**
   * Makes this inode's buffered writes and deferred changes durable and visible (flush, fsync, before
   * truncate and other setattrs).
   */
  async flushIno(ino: Ino): Promise<void> {
    const st = this.inodes.get(ino);
    if (!st) return;
    try {
      await st.writer.flush();
    } catch (e) {
      st.writer.takeError();
      throw e;
    }
  }

  /**
   * Holds a chmod, chown or utimens of `ino` for the commit of its buffered writes, if deferred-attrs.ts
   * allows it on the attributes this mount shows: then the attributes with it, else null (send it now).
   */
  defer(ino: Ino, change: AttrChange): Attr | null {
    const st = this.inodes.get(ino);
    if (!this.o.deferAttrsMs || !st?.writer.dirty || st.writer.deferred.length >= DEFERRED_MAX) return null;
    if (!mayDefer(this.effective(st.attr), change)) return null;
    st.writer.defer(change, timeFromMs(this.o.clock.nowMs()));
    this.deferring.add(ino);
    return this.effective(st.attr);
  }

  /**
   * Commits the deferred changes of `ino` (of every inode when undefined) that `which` selects, with
   * the writes before them, for an op whose outcome they may decide. Errors wait for the file's close.
   */
  async settleDeferred(ino?: Ino, which: (c: AttrChange) => boolean = () => true): Promise<void> {
    if (ino !== undefined) { // every write asks: no allocation when nothing is held
      const w = this.inodes.get(ino)?.writer;
      if (w && (w.settling || w.deferred.some((d) => which(d.change)))) await w.settleDeferred();
      return;
    }
    const due: InodeState[] = [];
    for (const i of [...this.deferring]) {
      const st = this.inodes.get(i);
      if (!st || (!st.writer.deferred.length && !st.writer.settling)) this.deferring.delete(i);
      else if (st.writer.settling || st.writer.deferred.some((d) => which(d.change))) due.push(st);
    }
    if (due.length) await Promise.all(due.map((st) => st.writer.settleDeferred()));
  }

  /** Drops a handle; returns the inode when it was the last one of this mount. */
  async release(fd: number): Promise<Ino | null> {
    const h = this.handle(fd);
    this.handles.delete(fd);
    const st = this.inodes.get(h.ino);
    if (!st) return null;
    st.handles--;
    if ((h.flags & O_ACCMODE) !== O_RDONLY) st.writers--;
    try {
      await st.writer.flush();
    } finally {
      if (st.handles === 0 && !st.writer.dirty) this.inodes.delete(h.ino);
    }
    return st.handles === 0 ? h.ino : null;
  }

  /** The kernel's pages of a file written here are the writer's: only data no writer here holds is stored. */
  private storable(st: InodeState): boolean {
    return st.writers === 0 && !st.writer.dirty;
  }

  /** The mount keeps pages in the kernel: random reads fill it around the page asked for (kernel-pages.ts). */
  attachPages(p: KernelPages): void {
    this.pages = p;
  }

  /**
   * Call after an open, a truncate or a lock grant has taken effect here and before answering the
   * kernel: read data stored into the kernel's page cache from now on is at least as new.
   */
  settlePages(ino: Ino): Promise<void> {
    return this.pages?.settle(ino) ?? Promise.resolve();
  }

  /** Another mount changed `ino` (undefined: anything): data read before now is not stored into the kernel's page cache. */
  fencePages(ino?: Ino): void {
    if (ino === undefined) this.pages?.fenceAll();
    else this.pages?.fence(ino);
  }

  /** After a truncate: cached contents are gone and the size is the new one. */
  truncated(attr: Attr): void {
    const st = this.inodes.get(attr.ino);
    if (!st) return;
    st.writer.dropFrom(attr.size);
    st.reader.invalidate();
    st.reader.version = attr.version;
    this.noteAttr(attr);
  }

  /**
   * Inodes this mount holds open and how many handles each, for re-registration under a new session:
   * one registration per handle, since each handle's close releases one.
   */
  openHandles(): [Ino, number][] {
    return [...this.inodes.values()].filter((s) => s.handles > 0).map((s) => [s.ino, s.handles]);
  }

  async flushAll(): Promise<void> {
    await Promise.allSettled([...this.inodes.keys()].map((ino) => this.flushIno(ino)));
  }
}

