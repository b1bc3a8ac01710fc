import type { Ino } from '../../shared/types.js';

/** What the FUSE binding offers for read windows (client/fuse/binding.ts). */
export interface WindowSink {
  setReadWindow(fh: number, off: number, data: Buffer): void;
  dropReadWindow(fh?: number): void;
}

/**
 * Read windows (client/fuse/BINDING.md, "Read windows"): the unit a sequential reader is in, handed
 * to the binding so that the kernel's next reads within it are answered on the FUSE thread, without
 * a round trip to this thread. The bytes are the reader's cached unit, so a window goes whenever a
 * read here would no longer answer from that unit: the reader drops its units (a commit, a truncate,
 * an open of a newer version, a lock grant; FileReader.onDrop), this mount buffers a write to the
 * inode, or the handle is released. Each of those happens here before the kernel gets its answer.
 */
export class ReadWindows {
  private readonly inoOf = new Map<number, Ino>();
  private readonly fdsOf = new Map<Ino, Set<number>>();

  constructor(private readonly sink: WindowSink) {}

  /** Reads of handle fd within [off, off + data.length) may be answered from data. */
  publish(fd: number, ino: Ino, off: number, data: Buffer): void {
    // Set again even when it looks unchanged: the binding may have let it go for another (32 at most).
    this.sink.setReadWindow(fd, off, data);
    if (this.inoOf.get(fd) === ino) return;
    this.dropFd(fd);
    this.inoOf.set(fd, ino);
    let fds = this.fdsOf.get(ino);
    if (!fds) this.fdsOf.set(ino, (fds = new Set()));
    fds.add(fd);
  }

  /** Every window on the inode goes (its cached bytes may no longer be what a read returns). */
  dropIno(ino: Ino): void {
    const fds = this.fdsOf.get(ino);
    if (!fds) return;
    this.fdsOf.delete(ino);
    for (const fd of fds) {
      this.inoOf.delete(fd);
      this.sink.dropReadWindow(fd);
    }
  }

  dropFd(fd: number): void {
    const ino = this.inoOf.get(fd);
    if (ino === undefined) return;
    this.inoOf.delete(fd);
    const fds = this.fdsOf.get(ino)!;
    fds.delete(fd);
    if (!fds.size) this.fdsOf.delete(ino);
    this.sink.dropReadWindow(fd);
  }

  /** How many handles have a window (tests). */
  get size(): number {
    return this.inoOf.size;
  }
}
