import { crc32 } from 'node:zlib';
import type { BlockId } from '../../shared/types.js';
import { BLOCK_BYTES_MAX } from '../../shared/limits.js';
import { BlockCorruptError } from './block-store.js';

/**
 * A block as the blob store appends it to a segment file:
 *   u32 magic | u8 version | u8 idLen | u16 zero | u32 crc32 of the bytes | u32 length | f64 storedAtMs
 *   | u32 header crc | u32 zero | id (ASCII) | [version 2: u32 crc32 of each RANGE_BYTES range] | bytes
 * The record names its own id and carries a header checksum (over the first 24 bytes, the id and the
 * range table) so a scan of a segment can tell a whole record from a torn tail or garbage without the
 * index (compaction and tests read segments this way). The bytes' crc32 is the same one record.ts
 * uses, so every replica of a block has the same checksum.
 *
 * Version 2 adds the range table so that a ranged get reads and verifies only the ranges it covers
 * (a 4 KiB read of a 4 MiB block reads 64 KiB, not 4 MiB). Version 1 records (no table) are still
 * read, verified whole; compaction moves both as they are.
 */
export const SEGMENT_MAGIC = 0x54444642; // "TDFB"
export const SEGMENT_RECORD_VERSION = 2;
export const SEGMENT_HEADER_BYTES = 32;
/** Checksum granularity of version 2 records: a ranged read reads and checks whole ranges. */
export const RANGE_BYTES = 64 * 1024;
const ID_BYTES_MAX = 64;
/** The most a record header can take (fixed part, longest id, range table of the largest block). */
export const SEGMENT_HEAD_BYTES_MAX = SEGMENT_HEADER_BYTES + ID_BYTES_MAX + 4 * rangeCount(BLOCK_BYTES_MAX);

export interface SegmentRecordHeader {
  id: BlockId;
  crc: number; // of the bytes
  size: number; // bytes of the block
  storedAtMs: number;
  /** Header + id (+ range table): the block's bytes start this far into the record. */
  headBytes: number;
  /** 1: one crc over the bytes; 2: also one per RANGE_BYTES range. */
  version: number;
}

/** Where a block lives: what the index stores under its id. */
export interface BlockLoc {
  seg: number;
  off: number; // of the record's first byte
  size: number;
  crc: number;
  storedAtMs: number;
  headBytes: number;
  /** The record's format version (1 or 2); index entries written before version 2 read as 1. */
  version: number;
}

export function recordBytes(loc: { size: number; headBytes: number }): number {
  return loc.headBytes + loc.size;
}

export function rangeCount(size: number): number {
  return Math.ceil(size / RANGE_BYTES);
}

/** The checksums a version 2 record carries: one per range, and the whole block's (the same as crc32(data)). */
export function blockChecksums(data: Uint8Array): { crc: number; ranges: Uint32Array } {
  const n = rangeCount(data.length);
  const ranges = new Uint32Array(n);
  let whole = 0;
  for (let i = 0; i < n; i++) {
    const a = i * RANGE_BYTES, e = Math.min(data.length, a + RANGE_BYTES);
    const c = crc32(data.subarray(a, e)) >>> 0;
    ranges[i] = c;
    whole = i === 0 ? c : crc32Combine(whole, c, e - a);
  }
  return { crc: whole >>> 0, ranges };
}

/** The record's header, id and range table; the caller writes the bytes after it (writev, no copy of the block). */
export function encodeSegmentHead(id: BlockId, crc: number, size: number, storedAtMs: number, ranges: Uint32Array): Buffer {
  const idLen = Buffer.byteLength(id, 'latin1');
  if (idLen > ID_BYTES_MAX) throw new Error(`block id ${id} is longer than ${ID_BYTES_MAX} bytes`);
  if (ranges.length !== rangeCount(size)) throw new Error(`block ${id}: ${ranges.length} range checksums for ${size} bytes`);
  const head = Buffer.alloc(SEGMENT_HEADER_BYTES + idLen + 4 * ranges.length);
  head.writeUInt32LE(SEGMENT_MAGIC, 0);
  head.writeUInt8(SEGMENT_RECORD_VERSION, 4);
  head.writeUInt8(idLen, 5);
  head.writeUInt32LE(crc >>> 0, 8);
  head.writeUInt32LE(size, 12);
  head.writeDoubleLE(storedAtMs, 16);
  head.write(id, SEGMENT_HEADER_BYTES, 'latin1');
  for (let i = 0; i < ranges.length; i++) head.writeUInt32LE(ranges[i]!, SEGMENT_HEADER_BYTES + idLen + 4 * i);
  head.writeUInt32LE(headCrc(head, head.length), 24);
  return head;
}

/** crc32 of the first 24 bytes, then of everything from the id to the end of the head. */
function headCrc(head: Buffer, headBytes: number): number {
  const c = crc32(head.subarray(0, 24));
  return crc32(head.subarray(SEGMENT_HEADER_BYTES, headBytes), c) >>> 0;
}

/**
 * Parses a record header from `buf` (at least SEGMENT_HEAD_BYTES_MAX bytes, or to the end of the
 * file). null when the bytes are not a whole, self-consistent header: a torn tail or garbage.
 */
export function decodeSegmentHead(buf: Buffer): SegmentRecordHeader | null {
  if (buf.length < SEGMENT_HEADER_BYTES) return null;
  const version = buf.readUInt8(4);
  if (buf.readUInt32LE(0) !== SEGMENT_MAGIC || (version !== 1 && version !== 2)) return null;
  const idLen = buf.readUInt8(5);
  const size = buf.readUInt32LE(12);
  if (idLen === 0 || idLen > ID_BYTES_MAX || size > BLOCK_BYTES_MAX) return null;
  const headBytes = SEGMENT_HEADER_BYTES + idLen + (version === 2 ? 4 * rangeCount(size) : 0);
  if (buf.length < headBytes) return null;
  if (headCrc(buf, headBytes) !== buf.readUInt32LE(24)) return null;
  return {
    id: buf.toString('latin1', SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + idLen),
    crc: buf.readUInt32LE(8), size, storedAtMs: buf.readDoubleLE(16), headBytes, version,
  };
}

/** Checks a record's head against what the index says; the head names the block and its checksums. */
function checkHead(id: BlockId, loc: BlockLoc, head: Buffer): void {
  const h = decodeSegmentHead(head.subarray(0, loc.headBytes));
  if (h === null) throw new BlockCorruptError(id, `bad record header at segment ${loc.seg} offset ${loc.off}`);
  if (h.id !== id || h.size !== loc.size || h.crc !== loc.crc || h.version !== loc.version || h.headBytes !== loc.headBytes) {
    throw new BlockCorruptError(id, `record at segment ${loc.seg} offset ${loc.off} is ${h.id} (${h.size} bytes), not the indexed one`);
  }
}

/** Verifies `data`, the bytes of ranges [r0, ...) of a version 2 record, against the head's range table. */
function checkRanges(id: BlockId, loc: BlockLoc, head: Buffer, data: Buffer, r0: number): void {
  const table = loc.headBytes - 4 * rangeCount(loc.size);
  for (let a = 0, r = r0; a < data.length; a += RANGE_BYTES, r++) {
    const want = head.readUInt32LE(table + 4 * r);
    const got = crc32(data.subarray(a, Math.min(data.length, a + RANGE_BYTES))) >>> 0;
    if (got !== want) throw new BlockCorruptError(id, `range ${r} (bytes ${r * RANGE_BYTES}..): crc32 ${hex(got)}, header says ${hex(want)}`);
  }
}

/**
 * Checks a whole record read from `loc` against what the index says, and returns the block's bytes (a
 * view). Any disagreement — header torn or overwritten, another id, another length, bytes that fail
 * the crc — is corruption of this copy.
 */
export function openSegmentRecord(id: BlockId, loc: BlockLoc, rec: Buffer): Buffer {
  if (rec.length < recordBytes(loc)) throw new BlockCorruptError(id, `segment ${loc.seg} ends ${recordBytes(loc) - rec.length} bytes early`);
  checkHead(id, loc, rec);
  const data = rec.subarray(loc.headBytes, loc.headBytes + loc.size);
  if (loc.version >= 2) {
    checkRanges(id, loc, rec, data, 0); // every range checked covers every byte (the table was made from them)
    return data;
  }
  const crc = crc32(data) >>> 0;
  if (crc !== loc.crc) throw new BlockCorruptError(id, `crc32 ${hex(crc)}, header says ${hex(loc.crc)}`);
  return data;
}

/** Where the ranges covering [start, end) of a version 2 record lie: record-relative offsets. */
export function coveringRanges(loc: BlockLoc, start: number, end: number): { r0: number; from: number; to: number } {
  const r0 = Math.floor(start / RANGE_BYTES);
  const r1 = Math.max(r0, Math.ceil(end / RANGE_BYTES));
  return { r0, from: loc.headBytes + r0 * RANGE_BYTES, to: loc.headBytes + Math.min(loc.size, r1 * RANGE_BYTES) };
}

/**
 * A ranged read of a version 2 record: `head` is its first loc.headBytes bytes, `body` the bytes of
 * coveringRanges(loc, start, end). Both are checked (head against the index, each range against the
 * table); returns [start, end) of the block as a view of `body`.
 */
export function openSegmentRange(id: BlockId, loc: BlockLoc, head: Buffer, body: Buffer, start: number, end: number): Buffer {
  const { r0, from, to } = coveringRanges(loc, start, end);
  if (head.length < loc.headBytes || body.length < to - from) throw new BlockCorruptError(id, `segment ${loc.seg} ends early`);
  checkHead(id, loc, head);
  checkRanges(id, loc, head, body.subarray(0, to - from), r0);
  const base = r0 * RANGE_BYTES;
  return body.subarray(start - base, end - base);
}

/**
 * crc32(A ‖ B) from crc32(A), crc32(B) and B's length (zlib's crc32_combine: multiply crc(A) by
 * x^(8·lenB) modulo the polynomial, then add crc(B)). About 1 µs, against ~14 µs to checksum 64 KiB again.
 */
export function crc32Combine(crcA: number, crcB: number, lenB: number): number {
  if (lenB <= 0) return crcA >>> 0;
  const op = lenB === RANGE_BYTES ? (rangeOp ??= x2nModP(RANGE_BYTES, 3)) : x2nModP(lenB, 3);
  return (multModP(op, crcA) ^ crcB) >>> 0;
}
let rangeOp: number | undefined;

const POLY = 0xedb88320;
const X2N = (() => {
  const t = new Uint32Array(32);
  let p = 1 << 30; // x^1
  t[0] = p;
  for (let k = 1; k < 32; k++) t[k] = p = multModP(p, p);
  return t;
})();

function multModP(a: number, b: number): number {
  let m = 1 << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

function x2nModP(n: number, k: number): number {
  let p = 1 << 31; // x^0
  while (n) {
    if (n & 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p >>> 0;
}

/** Index value: u32 seg | u32 size | u32 crc | u16 headBytes | u16 record version (0 = 1) | f64 off | f64 storedAtMs. */
export const LOC_BYTES = 32;

export function encodeLoc(loc: BlockLoc): Buffer {
  const b = Buffer.alloc(LOC_BYTES);
  b.writeUInt32LE(loc.seg, 0);
  b.writeUInt32LE(loc.size, 4);
  b.writeUInt32LE(loc.crc >>> 0, 8);
  b.writeUInt16LE(loc.headBytes, 12);
  b.writeUInt16LE(loc.version === 1 ? 0 : loc.version, 14); // entries from before version 2 hold 0 here
  b.writeDoubleLE(loc.off, 16);
  b.writeDoubleLE(loc.storedAtMs, 24);
  return b;
}

/** null for a value of the wrong length: an index entry only this code writes, so that is corruption. */
export function decodeLoc(b: Buffer): BlockLoc | null {
  if (b.length !== LOC_BYTES) return null;
  return {
    seg: b.readUInt32LE(0), size: b.readUInt32LE(4), crc: b.readUInt32LE(8), headBytes: b.readUInt16LE(12),
    version: b.readUInt16LE(14) || 1, off: b.readDoubleLE(16), storedAtMs: b.readDoubleLE(24),
  };
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
