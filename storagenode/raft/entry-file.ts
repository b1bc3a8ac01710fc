import { closeSync, constants, fdatasync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { assert } from '../../shared/assert.js';

/** Record header: payload length, then CRC-32 of the payload (both u32 little-endian). */
const HEADER = 8;
/** How far past the last record the file is kept written with zeros (see EntryFile). */
export const PREALLOC_BYTES = 1 << 20;

/**
 * The Raft log's entries in one append-only file of records [len u32][crc32 u32][payload], one per
 * entry, in index order: entry `first + k` is record k. An append writes its records with one
 * write() into the page cache and makes them durable with one fdatasync on the thread pool: a
 * LevelDB batch with sync:true did the same fsync, plus encoding and a memtable insert on the main
 * thread (~0.1-0.2 ms per batch in a node's profile) and its own write-ahead-log framing.
 * Replacing entries from index i on truncates the file at i's record first. On open, the records
 * are read until the first one that is empty, short or fails its CRC (a write torn by a crash; such
 * a write was never synced, so never acknowledged), and the file is cut there unless all that
 * follows is zeros.
 *
 * The file is kept written with zeros up to PREALLOC_BYTES past the last record, so that an append
 * overwrites blocks the file already has: its fdatasync then flushes data only, with no journal
 * commit for a new size or new blocks. Under the CPU contention of a busy node that took the fsync
 * from ~0.3-0.4 to ~0.22 ms (median, three syncing processes beside two CPU burners); an append that
 * runs past the zeros writes the next stretch of zeros with it. A zero length ends the records.
 */
export class EntryFile {
  /** offsets[k]: where record k (entry first + k) starts; offsets[count] is the end of the file. */
  private offsets: number[];
  /** The file's size: everything from the last record's end to here is zeros. */
  private allocated: number;

  private constructor(private fd: number, private readonly path: string, private first: number, offsets: number[], allocated: number) {
    this.offsets = offsets;
    this.allocated = allocated;
  }

  /** Opens (or creates) the file and reads its records back; `indexOf` tells a payload's entry index. */
  static open(path: string, indexOf: (payload: Uint8Array) => number): { file: EntryFile; records: Uint8Array[] } {
    rmSync(`${path}.tmp`, { force: true }); // a compaction that did not finish
    let created = false;
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o644);
      created = true;
    }
    if (created) syncDir(dirname(path));
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    const records: Uint8Array[] = [];
    const offsets: number[] = [0];
    let off = 0;
    while (off + HEADER <= got) {
      const len = buf.readUInt32LE(off);
      const sum = buf.readUInt32LE(off + 4);
      if (len === 0 || off + HEADER + len > got) break;
      const payload = buf.subarray(off + HEADER, off + HEADER + len);
      if (crc32(payload) !== sum) break;
      records.push(payload);
      off += HEADER + len;
      offsets.push(off);
    }
    let allocated = size;
    if (off < size && !allZero(buf.subarray(off, got))) {
      ftruncateSync(fd, off);
      fsyncSync(fd);
      allocated = off;
    }
    const first = records.length ? indexOf(records[0]!) : 1;
    return { file: new EntryFile(fd, path, first, offsets, allocated), records };
  }

  /** The index of the first record (or of the next one to write, when empty). */
  get firstIndex(): number {
    return this.first;
  }
  get lastIndex(): number {
    return this.first + this.offsets.length - 2;
  }

  /**
   * Writes records for entries startIndex.. (one payload each), replacing any from startIndex on.
   * The data is in the page cache on return; sync() makes it durable.
   */
  write(startIndex: number, payloads: Uint8Array[]): void {
    if (this.offsets.length === 1) this.first = startIndex; // empty: the file starts here
    assert(startIndex >= this.first && startIndex <= this.lastIndex + 1, `entry file write at ${startIndex}, holds ${this.first}..${this.lastIndex}`);
    const k = startIndex - this.first;
    if (k + 1 < this.offsets.length) {
      // Cut, not zeroed over: a crash must not leave a new record followed by a stale one.
      ftruncateSync(this.fd, this.offsets[k]!);
      this.offsets.length = k + 1;
      this.allocated = this.offsets[k]!;
    }
    let bytes = 0;
    for (const p of payloads) bytes += HEADER + p.byteLength;
    const from = this.offsets[k]!;
    // Past the zeros: this write carries the next stretch of them (allocUnsafe leaves it to fill).
    const zeros = from + bytes > this.allocated ? PREALLOC_BYTES : 0;
    const buf = Buffer.allocUnsafe(bytes + zeros);
    if (zeros) buf.fill(0, bytes);
    let off = 0;
    let end = from;
    for (const p of payloads) {
      buf.writeUInt32LE(p.byteLength, off);
      buf.writeUInt32LE(crc32(p), off + 4);
      buf.set(p, off + HEADER);
      off += HEADER + p.byteLength;
      end += HEADER + p.byteLength;
      this.offsets.push(end);
    }
    writeAll(this.fd, buf, from);
    if (zeros) this.allocated = from + buf.length;
  }

  /** fdatasync on the thread pool (it covers a size change, when a write brought one). */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => fdatasync(this.fd, (e) => (e ? reject(e) : resolve())));
  }

  /** Drops every record; the next write starts the file at its index. Synced. */
  reset(): void {
    ftruncateSync(this.fd, 0);
    fsyncSync(this.fd);
    this.offsets = [0];
    this.allocated = 0;
  }

  /** Keeps only the records after `index`: rewritten to a new file, synced, renamed over this one. */
  compactTo(index: number): void {
    if (index < this.first) return;
    if (index >= this.lastIndex) return this.reset();
    const k = index + 1 - this.first;
    const from = this.offsets[k]!;
    const end = this.offsets[this.offsets.length - 1]!;
    const buf = Buffer.allocUnsafe(end - from);
    let got = 0;
    while (got < buf.length) got += readSync(this.fd, buf, got, buf.length - got, from + got);
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o644);
    try {
      writeAll(fd, buf, 0);
      fsyncSync(fd);
      renameSync(tmp, this.path);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    syncDir(dirname(this.path));
    closeSync(this.fd);
    this.fd = fd;
    this.offsets = this.offsets.slice(k).map((o) => o - from);
    this.allocated = buf.length;
    this.first = index + 1;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
