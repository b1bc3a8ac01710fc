import { open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../../shared/assert.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import { alignUp, DirectAppender } from './direct-append.js';

/** Segment n is the file `<10-digit n>.seg`: names sort in creation order. */
const NAME_RE = /^(\d{10})\.seg$/;

interface Seg {
  fh: Promise<FileHandle> | null; // opened on first use
  /** Reads in progress: a retired segment's descriptor closes only when they are done. */
  refs: number;
  retired: boolean;
}

/**
 * The blob store's segment files and their cached descriptors. Compaction retires a segment while
 * reads of it may be in flight: the file is unlinked at once (POSIX keeps an open file readable), and
 * the descriptor closes when the last read releases it. A read that arrives after retirement gets
 * null and looks the block up again (the index then names its new place).
 */
export class SegmentFiles {
  private readonly segs = new Map<number, Seg>();
  /** The O_DIRECT appender of the segment last written (direct-append.ts); off once refused. */
  private appender: { n: number; a: Promise<DirectAppender | null> } | null = null;
  private directOff: boolean;

  private constructor(readonly dir: string, readonly numbers: number[], direct: boolean, private readonly log: Logger) {
    // Opened on first use: a node with thousands of old segments holds no descriptor for those unread.
    for (const n of numbers) this.segs.set(n, { fh: null, refs: 0, retired: false });
    this.directOff = !direct;
  }

  /** direct (default true): appends bypass the page cache where the file system allows it. */
  static async open(dir: string, opts: { direct?: boolean; log?: Logger } = {}): Promise<SegmentFiles> {
    const numbers: number[] = [];
    for (const name of await readdir(dir)) {
      const m = NAME_RE.exec(name);
      if (m) numbers.push(Number(m[1]));
    }
    return new SegmentFiles(dir, numbers.sort((a, b) => a - b), opts.direct ?? true, opts.log ?? silentLogger);
  }

  path(n: number): string {
    return join(this.dir, `${n.toString().padStart(10, '0')}.seg`);
  }

  has(n: number): boolean {
    return this.segs.has(n);
  }

  /** A new, empty segment, its name made durable (fsync of the directory) before any record goes in. */
  async create(n: number): Promise<void> {
    assert(!this.segs.has(n), `segment ${n} exists`);
    const fh = await open(this.path(n), 'wx+');
    this.segs.set(n, { fh: Promise.resolve(fh), refs: 0, retired: false });
    await syncDir(this.dir);
  }

  /**
   * Positional read of `len` bytes; shorter at the end of the file; null if the segment was retired.
   * With `headroom`, the returned bytes have that many unused bytes before them in their buffer.
   */
  async read(n: number, off: number, len: number, headroom = 0): Promise<Buffer | null> {
    const s = this.segs.get(n);
    if (!s) return null;
    s.refs++;
    try {
      const fh = await this.fh(n, s);
      const buf = Buffer.allocUnsafe(headroom + len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fh.read(buf, headroom + got, len - got, off + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return headroom === 0 && got === len ? buf : buf.subarray(headroom, headroom + got);
    } finally {
      s.refs--;
      if (s.retired && s.refs === 0) await closeSeg(s);
    }
  }

  /**
   * Writes all buffers at `pos`: with O_DIRECT where the file system takes it, else in one writev
   * (libuv loops over IOV_MAX and partial writes). Bytes of the file's last 4 KiB block past `pos`
   * may be overwritten with zeros (direct-append.ts): callers only ever append at the committed end.
   */
  async write(n: number, bufs: Uint8Array[], pos: number): Promise<void> {
    const want = bufs.reduce((k, b) => k + b.length, 0);
    const direct = await this.writeDirect(n, bufs, pos);
    const bytesWritten = direct ?? (await (await this.handle(n)).writev(bufs, pos)).bytesWritten;
    // libuv retries partial writes itself, so a short count means the next write failed: the disk is
    // full (the caller writes the same place again next time, so the partial record is overwritten).
    if (bytesWritten !== want) throw Object.assign(new Error(`segment ${n}: wrote ${bytesWritten} of ${want} bytes: the disk is full`), { code: 'ENOSPC' });
  }

  /** Null when O_DIRECT is off or was just refused (the caller then writes through the page cache). */
  private async writeDirect(n: number, bufs: Uint8Array[], pos: number): Promise<number | null> {
    if (this.directOff) return null;
    if (this.appender?.n !== n) {
      await this.closeAppender();
      this.appender = { n, a: DirectAppender.open(this.path(n)) };
    }
    const a = await this.appender.a;
    try {
      if (a === null) throw Object.assign(new Error('open with O_DIRECT refused'), { code: 'EINVAL' });
      return await a.append(bufs, pos, async (start, len) => (await this.read(n, start, len)) ?? Buffer.alloc(0));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      // EINVAL comes before any byte is written: the file system or the device wants other alignment.
      this.log.warn(`segments in ${this.dir}: direct writes refused (${(e as Error).message}); writing through the page cache`);
      this.directOff = true;
      await this.closeAppender();
      return null;
    }
  }

  private async closeAppender(): Promise<void> {
    const p = this.appender;
    this.appender = null;
    const a = await p?.a.catch(() => null);
    await a?.close();
  }

  async datasync(n: number): Promise<void> {
    await (await this.handle(n)).datasync();
  }

  async size(n: number): Promise<number> {
    return (await (await this.handle(n)).stat()).size;
  }

  /** The file cut to `len` bytes, durably. */
  async truncate(n: number, len: number): Promise<void> {
    if (this.appender?.n === n) (await this.appender.a)?.forgetTail();
    const fh = await this.handle(n);
    await fh.truncate(len);
    await fh.datasync();
  }

  /** Unlinks the file now; the descriptor closes once no read holds it. */
  async retire(n: number): Promise<void> {
    const s = this.segs.get(n);
    if (!s) return;
    if (this.appender?.n === n) await this.closeAppender();
    this.segs.delete(n);
    s.retired = true;
    // A read that found the segment before this started its open synchronously: let the open finish
    // before the name goes, or it could fail with ENOENT (the thread pool does not keep call order).
    if (s.fh) await s.fh;
    await unlink(this.path(n));
    await syncDir(this.dir);
    if (s.refs === 0) await closeSeg(s);
  }

  async close(): Promise<void> {
    await this.closeAppender();
    const all = [...this.segs.values()];
    this.segs.clear();
    await Promise.all(all.map(closeSeg));
  }

  private handle(n: number): Promise<FileHandle> {
    const s = this.segs.get(n);
    assert(s !== undefined, `segment ${n} is not open`);
    return this.fh(n, s);
  }

  private fh(n: number, s: Seg): Promise<FileHandle> {
    s.fh ??= open(this.path(n), 'r+');
    return s.fh;
  }
}

async function closeSeg(s: Seg): Promise<void> {
  const p = s.fh;
  s.fh = null;
  if (p) await (await p).close();
}

/** Whether a file of `size` bytes with committed end `end` holds nothing past it but a direct append's zeros. */
export function onlyPadding(size: number, end: number): boolean {
  return size > end && size <= alignUp(end);
}

/** Makes a create or unlink in `dir` durable (Linux allows fsync on a directory descriptor). */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
