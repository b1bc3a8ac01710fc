import type { Logger } from '../../shared/log.js';
import type { Ino } from '../../shared/types.js';

/** Puts file data into the kernel's page cache (FUSE_NOTIFY_STORE; client/fuse/binding.ts implements it). */
export interface PageStorer {
  /** Resolves with the kernel names reached (0: the kernel holds nothing of the inode); rejects if it refused. */
  storeData(ino: Ino, off: number, data: Buffer): Promise<number>;
}

/** The aligned window a random read hands to the kernel at first: the block cache's unit, fetched whole anyway. */
export const STORE_WINDOW_BYTES = 64 * 1024;
/** The widest window, once random reads have brought in a quarter of the file. */
export const STORE_WINDOW_BYTES_MAX = 1024 * 1024;

/**
 * The window around a random read's miss, from how much of the file random reads have already
 * brought in (`fetched`). Reads all over a file (a database or disk image read at random) fill the
 * page cache in fewer round trips with wider windows: on a 1 GiB file, 4 fio jobs for 15 s did
 * 67–69k IOPS with 64 KiB and 78–133k with 256 KiB. A sparse reader of a large file keeps 64 KiB,
 * whose miss costs least (1.2 ms against 1.5–1.6 ms for 256 KiB, single job; docs/perf-reads.md).
 */
export function storeWindow(fileBytes: number, fetched: number): number {
  if (fetched * 16 < fileBytes) return STORE_WINDOW_BYTES;
  if (fetched * 4 < fileBytes) return 4 * STORE_WINDOW_BYTES;
  return STORE_WINDOW_BYTES_MAX;
}

const PAGE_BYTES = 4096;
/** How many inodes' fences are remembered; an older one raises the floor every store is checked against. */
const FENCES_MAX = 100_000;

/**
 * Fills the kernel's page cache around random reads. The kernel asks for exactly the 4 KiB page a
 * random read misses (fio sets POSIX_FADV_RANDOM), so every miss costs a FUSE round trip and, at
 * best, a block-cache hit; the window the block cache fetched around it (64 KiB to 1 MiB, storeWindow)
 * is handed to the kernel too, so its other pages are served by the kernel without asking
 * (docs/perf-reads.md).
 *
 * A store lands later than a read's answer would (it runs on a pool thread, because the kernel may wait
 * for page locks held by requests only JS answers), so it must not put back bytes that an operation
 * since has made stale. Every such operation (an open, whose reply may drop the kernel's pages; a
 * truncate; a lock grant; another mount's change; a commit) *fences* the inode after its effect is
 * recorded here and waits for the stores under way before it answers; a store whose read began
 * before the inode's last fence is dropped. Files with writers on this mount are never stored (the
 * kernel's pages of a written file are the writer's), which Files checks.
 */
export class KernelPages {
  private seq = 0;
  private readonly fences = new Map<Ino, number>();
  /** The newest fence forgotten from `fences`: every inode counts as fenced at least then. */
  private floor = 0;
  private readonly inflight = new Map<Ino, Set<Promise<void>>>();
  readonly stats = { stores: 0, bytes: 0, stale: 0, failed: 0 };
  private warned = false;

  constructor(private readonly kernel: PageStorer, private readonly log: Logger) {}

  /** Taken before a read starts; its store is refused if the inode was fenced since. */
  snapshot(): number {
    return this.seq;
  }

  /** Stores issued after this for reads begun before it are refused. */
  fence(ino: Ino): void {
    this.fences.delete(ino);
    this.fences.set(ino, ++this.seq);
    if (this.fences.size > FENCES_MAX) {
      const [old, at] = this.fences.entries().next().value!;
      this.fences.delete(old);
      this.floor = Math.max(this.floor, at);
    }
  }

  /** Fences every inode (the change feed had a gap). */
  fenceAll(): void {
    this.floor = ++this.seq;
  }

  /** Fences `ino` and resolves once its stores under way have landed: call it before answering the kernel. */
  async settle(ino: Ino): Promise<void> {
    this.fence(ino);
    const s = this.inflight.get(ino);
    if (s) await Promise.all(s);
  }

  /**
   * A random read of [reqOff, reqOff + reqLen) was served from `window` (file bytes from `winOff`,
   * read under `snap`): hand the kernel the window's pages around the ones it asked for (those are
   * locked until the answer, and get it).
   */
  storeAround(ino: Ino, snap: number, winOff: number, window: Buffer, reqOff: number, reqLen: number): void {
    if (Math.max(this.floor, this.fences.get(ino) ?? 0) > snap) {
      this.stats.stale++;
      return;
    }
    const winEnd = winOff + window.byteLength;
    const p0 = Math.max(winOff, Math.floor(reqOff / PAGE_BYTES) * PAGE_BYTES);
    const p1 = Math.min(winEnd, Math.ceil((reqOff + reqLen) / PAGE_BYTES) * PAGE_BYTES);
    if (p0 > winOff) this.store(ino, winOff, window.subarray(0, p0 - winOff));
    if (p1 < winEnd) this.store(ino, p1, window.subarray(p1 - winOff));
  }

  private store(ino: Ino, off: number, data: Buffer): void {
    let s = this.inflight.get(ino);
    if (!s) this.inflight.set(ino, (s = new Set()));
    const set = s;
    const p = this.kernel.storeData(ino, off, data).then((nodes) => {
      this.stats.stores++;
      this.stats.bytes += data.byteLength;
      this.log.debug(`stored ${data.byteLength} bytes of inode ${ino} at ${off} in ${nodes} kernel node(s)`);
    }, (e: Error) => {
      this.stats.failed++;
      // The read was answered; only the extra pages are missing, which the kernel asks for when needed.
      if (!this.warned) this.log.warn(`could not put read data into the kernel's page cache (inode ${ino}): ${e.message}; later failures are counted, not logged`);
      this.warned = true;
    }).finally(() => {
      set.delete(p);
      if (set.size === 0 && this.inflight.get(ino) === set) this.inflight.delete(ino);
    });
    set.add(p);
  }
}
