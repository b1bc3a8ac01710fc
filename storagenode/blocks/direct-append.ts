import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * Appends to a segment file with O_DIRECT. On this kind of VM a buffered write costs ~1.9 s of kernel
 * CPU per GiB (page-cache pages allocated and filled one copy at a time), an O_DIRECT write of the same
 * GiB ~0.15 s including the copy into an aligned buffer (docs/perf-writes.md, "Session 10"): with
 * three replicas on two cores, that copy was a third of all CPU during a sequential write.
 *
 * O_DIRECT wants the file offset, the length and the memory address aligned. Records are not, so each
 * append starts at the 4 KiB block holding the committed end: the bytes of that block already in the
 * file (the tail, kept from the last append) are written again, then the new records, then zeros to
 * the next block boundary. The zeros lie past the committed end, where the next append (or recovery's
 * truncate) overwrites them. Node gives no way to align a Buffer, but a WebAssembly memory starts on
 * a page boundary, so the aligned staging buffer is one.
 */
export const DIRECT_ALIGN = 4096;
const STAGE_BYTES = 8 << 20; // one O_DIRECT write at most; bigger appends go in several
const WASM_PAGE = 65536;

export class DirectAppender {
  private stage: Buffer | null = null;
  /** The file's bytes from the block boundary before `tailEnd` up to it, when known. */
  private tail: { end: number; bytes: Buffer } | null = null;

  private constructor(private readonly fh: FileHandle) {}

  /** Null when the file system refuses O_DIRECT (then the caller writes through the page cache). */
  static async open(path: string): Promise<DirectAppender | null> {
    try {
      return new DirectAppender(await open(path, constants.O_RDWR | constants.O_DIRECT));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EINVAL') return null;
      throw e;
    }
  }

  /**
   * Writes `bufs` at `pos`. readTail(start, len) gives the file's bytes in [start, start + len) when
   * this appender did not write them itself (the first append after open, or after a truncate).
   * EINVAL means the file system or device wants other alignment: nothing was written.
   */
  async append(bufs: Uint8Array[], pos: number, readTail: (start: number, len: number) => Promise<Buffer>): Promise<number> {
    const start = pos - (pos % DIRECT_ALIGN);
    const head = this.tail?.end === pos ? this.tail.bytes : pos > start ? await readTail(start, pos - start) : Buffer.alloc(0);
    if (head.length !== pos - start) throw new Error(`segment tail: read ${head.length} of ${pos - start} bytes`);
    const want = bufs.reduce((k, b) => k + b.length, 0);
    const total = head.length + want;
    const src = new Cursor([head, ...bufs]);
    let off = 0;
    while (off < total) {
      const n = Math.min(total - off, STAGE_BYTES);
      const padded = alignUp(n);
      const stage = this.stageOf(padded);
      src.copyTo(stage, n);
      stage.fill(0, n, padded);
      const { bytesWritten } = await this.fh.write(stage, 0, padded, start + off);
      // A short O_DIRECT write: the disk is full. Return what landed of the caller's bytes.
      if (bytesWritten < padded) {
        this.tail = null;
        return Math.max(0, Math.min(want, off + bytesWritten - head.length));
      }
      off += n;
      if (off === total) {
        const keep = (start + total) % DIRECT_ALIGN;
        this.tail = { end: start + total, bytes: Buffer.from(stage.subarray(n - keep, n)) };
      }
    }
    return want;
  }

  /** The file changed under us (truncate): the tail is read again at the next append. */
  forgetTail(): void {
    this.tail = null;
  }

  close(): Promise<void> {
    this.stage = null;
    return this.fh.close();
  }

  private stageOf(bytes: number): Buffer {
    if (this.stage === null || this.stage.length < bytes) {
      const mem = new WebAssembly.Memory({ initial: Math.ceil(Math.max(bytes, DIRECT_ALIGN) / WASM_PAGE) });
      this.stage = Buffer.from(mem.buffer);
    }
    return this.stage;
  }
}

/** n rounded up to the next DIRECT_ALIGN boundary. */
export function alignUp(n: number): number {
  return Math.ceil(n / DIRECT_ALIGN) * DIRECT_ALIGN;
}

/** Reads a list of buffers front to back. */
class Cursor {
  private i = 0;
  private at = 0;
  constructor(private readonly bufs: Uint8Array[]) {}

  copyTo(dst: Buffer, n: number): void {
    let done = 0;
    while (done < n) {
      const b = this.bufs[this.i];
      const k = Math.min(n - done, b.length - this.at);
      dst.set(b.subarray(this.at, this.at + k), done);
      done += k;
      this.at += k;
      if (this.at === b.length) { this.i++; this.at = 0; }
    }
  }
}
