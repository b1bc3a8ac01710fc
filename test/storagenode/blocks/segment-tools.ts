// Test helpers that read and damage a closed BlobBlockStore's segment files directly.
import { openSync, readdirSync, readSync, closeSync, writeSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { decodeSegmentHead, recordBytes, SEGMENT_HEAD_BYTES_MAX, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC } from '../../../storagenode/blocks/segment-record.js';

export interface FoundRecord { file: string; off: number; headBytes: number; size: number }

/** Every whole record of every segment, in file order (a block moved by compaction appears once per copy). */
export function scanSegments(dir: string): (FoundRecord & { id: string })[] {
  const segDir = join(dir, 'segments');
  const out: (FoundRecord & { id: string })[] = [];
  for (const name of readdirSync(segDir).filter((n) => n.endsWith('.seg')).sort()) {
    const file = join(segDir, name);
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      let off = 0;
      const buf = Buffer.alloc(SEGMENT_HEAD_BYTES_MAX);
      while (off < size) {
        const n = readSync(fd, buf, 0, buf.length, off);
        const h = decodeSegmentHead(buf.subarray(0, n));
        if (!h) break;
        out.push({ id: h.id, file, off, headBytes: h.headBytes, size: h.size });
        off += recordBytes(h);
      }
    } finally {
      closeSync(fd);
    }
  }
  return out;
}

/** The last copy of `id` in the segments (the one the index names, unless it was moved and not yet dropped). */
export function findRecord(dir: string, id: string): FoundRecord {
  const all = scanSegments(dir).filter((r) => r.id === id);
  if (all.length === 0) throw new Error(`no record of ${id} in ${dir}`);
  return all[all.length - 1]!;
}

/** XORs the byte at `at` (relative to the record's start) of `id`'s record with `mask`. */
export function flipRecordByte(dir: string, id: string, at: (r: FoundRecord) => number, mask = 0x01): void {
  const r = findRecord(dir, id);
  const fd = openSync(r.file, 'r+');
  try {
    const b = Buffer.alloc(1);
    const pos = r.off + at(r);
    readSync(fd, b, 0, 1, pos);
    b[0] ^= mask;
    writeSync(fd, b, 0, 1, pos);
  } finally {
    closeSync(fd);
  }
}

/** The last payload byte of a record: what a flipped bit on the disk would hit. */
export const lastPayloadByte = (r: FoundRecord): number => r.headBytes + r.size - 1;

/** A version 1 record head (no range table), as stores before range checksums wrote them. */
export function encodeV1Head(id: string, crc: number, size: number, storedAtMs: number): Buffer {
  const idLen = Buffer.byteLength(id, 'latin1');
  const head = Buffer.alloc(SEGMENT_HEADER_BYTES + idLen);
  head.writeUInt32LE(SEGMENT_MAGIC, 0);
  head.writeUInt8(1, 4);
  head.writeUInt8(idLen, 5);
  head.writeUInt32LE(crc >>> 0, 8);
  head.writeUInt32LE(size, 12);
  head.writeDoubleLE(storedAtMs, 16);
  head.write(id, SEGMENT_HEADER_BYTES, 'latin1');
  head.writeUInt32LE(crc32(head.subarray(SEGMENT_HEADER_BYTES), crc32(head.subarray(0, 24))) >>> 0, 24);
  return head;
}
