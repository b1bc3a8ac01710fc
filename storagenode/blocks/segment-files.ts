import { open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../../shared/assert.js';

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

  private constructor(readonly dir: string, readonly numbers: number[]) {
    // Opened on first use: a node with thousands of old segments holds no descriptor for those unread.
    for (const n of numbers) this.segs.set(n, { fh: null, refs: 0, retired: false });
  }

  static async open(dir: string): Promise<SegmentFiles> {
    const numbers: number[] = [];
    for (const name of await readdir(dir)) {
      const m = NAME_RE.exec(name);
      if (m) numbers.push(Number(m[1]));
    }
    return new SegmentFiles(dir, numbers.sort((a, b) => a - b));
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

  /** Writes all buffers at `pos` in one writev (libuv loops over IOV_MAX and partial writes). */
  async write(n: number, bufs: Uint8Array[], pos: number): Promise<void> {
    const fh = await this.handle(n);
    const want = bufs.reduce((k, b) => k + b.length, 0);
    const { bytesWritten } = await fh.writev(bufs, pos);
    // libuv retries partial writes itself, so a short count means the next write failed: the disk is
    // full (the caller writes the same place again next time, so the partial record is overwritten).
    if (bytesWritten !== want) throw Object.assign(new Error(`segment ${n}: wrote ${bytesWritten} of ${want} bytes: the disk is full`), { code: 'ENOSPC' });
  }

  async datasync(n: number): Promise<void> {
    await (await this.handle(n)).datasync();
  }

  async size(n: number): Promise<number> {
    return (await (await this.handle(n)).stat()).size;
  }

  async truncate(n: number, len: number): Promise<void> {
    const fh = await this.handle(n);
    await fh.truncate(len);
    await fh.datasync();
  }

  /** Unlinks the file now; the descriptor closes once no read holds it. */
  async retire(n: number): Promise<void> {
    const s = this.segs.get(n);
    if (!s) return;
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

/** Makes a create or unlink in `dir` durable (Linux allows fsync on a directory descriptor). */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
