import { crc32 } from 'node:zlib';
import type { BlockId } from '../../shared/types.js';
import { BlockCorruptError } from './block-store.js';

/**
 * A block as the blob store appends it to a segment file:
 *   u32 magic | u8 version | u8 idLen | u16 zero | u32 crc32 of the bytes | u32 length | f64 storedAtMs
 *   | u32 crc32 of the header's first 24 bytes and the id | u32 zero | id (ASCII) | bytes
 * The record names its own id and carries a header checksum so a scan of a segment can tell a whole
 * record from a torn tail or garbage without the index (compaction and tests read segments this way).
 * The bytes' crc32 is the same one record.ts uses, so every replica of a block has the same checksum.
 */
export const SEGMENT_MAGIC = 0x54444642; // "TDFB"
export const SEGMENT_RECORD_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 32;
const ID_BYTES_MAX = 64;

export interface SegmentRecordHeader {
  id: BlockId;
  crc: number; // of the bytes
  size: number; // bytes of the block
  storedAtMs: number;
  /** Header + id: the block's bytes start this far into the record. */
  headBytes: number;
}

/** Where a block lives: what the index stores under its id. */
export interface BlockLoc {
  seg: number;
  off: number; // of the record's first byte
  size: number;
  crc: number;
  storedAtMs: number;
  headBytes: number;
}

export function recordBytes(loc: { size: number; headBytes: number }): number {
  return loc.headBytes + loc.size;
}

/** The record's header and id; the caller writes the bytes after it (writev, no copy of the block). */
export function encodeSegmentHead(id: BlockId, crc: number, size: number, storedAtMs: number): Buffer {
  const idLen = Buffer.byteLength(id, 'latin1');
  if (idLen > ID_BYTES_MAX) throw new Error(`block id ${id} is longer than ${ID_BYTES_MAX} bytes`);
  const head = Buffer.alloc(SEGMENT_HEADER_BYTES + idLen);
  head.writeUInt32LE(SEGMENT_MAGIC, 0);
  head.writeUInt8(SEGMENT_RECORD_VERSION, 4);
  head.writeUInt8(idLen, 5);
  head.writeUInt32LE(crc >>> 0, 8);
  head.writeUInt32LE(size, 12);
  head.writeDoubleLE(storedAtMs, 16);
  head.write(id, SEGMENT_HEADER_BYTES, 'latin1');
  head.writeUInt32LE(headCrc(head, idLen), 24);
  return head;
}

function headCrc(head: Buffer, idLen: number): number {
  const c = crc32(head.subarray(0, 24));
  return crc32(head.subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + idLen), c) >>> 0;
}

/**
 * Parses a record header from `buf` (at least SEGMENT_HEADER_BYTES + 64 bytes, or to the end of the
 * file). null when the bytes are not a whole, self-consistent header: a torn tail or garbage.
 */
export function decodeSegmentHead(buf: Buffer): SegmentRecordHeader | null {
  if (buf.length < SEGMENT_HEADER_BYTES) return null;
  if (buf.readUInt32LE(0) !== SEGMENT_MAGIC || buf.readUInt8(4) !== SEGMENT_RECORD_VERSION) return null;
  const idLen = buf.readUInt8(5);
  if (idLen === 0 || idLen > ID_BYTES_MAX || buf.length < SEGMENT_HEADER_BYTES + idLen) return null;
  if (headCrc(buf, idLen) !== buf.readUInt32LE(24)) return null;
  return {
    id: buf.toString('latin1', SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + idLen),
    crc: buf.readUInt32LE(8), size: buf.readUInt32LE(12), storedAtMs: buf.readDoubleLE(16),
    headBytes: SEGMENT_HEADER_BYTES + idLen,
  };
}

/**
 * Checks a whole record read from `loc` against what the index says, and returns the block's bytes (a
 * view). Any disagreement — header torn or overwritten, another id, another length, bytes that fail
 * the crc — is corruption of this copy.
 */
export function openSegmentRecord(id: BlockId, loc: BlockLoc, rec: Buffer): Buffer {
  if (rec.length < recordBytes(loc)) throw new BlockCorruptError(id, `segment ${loc.seg} ends ${recordBytes(loc) - rec.length} bytes early`);
  const h = decodeSegmentHead(rec.subarray(0, loc.headBytes));
  if (h === null) throw new BlockCorruptError(id, `bad record header at segment ${loc.seg} offset ${loc.off}`);
  if (h.id !== id || h.size !== loc.size || h.crc !== loc.crc) {
    throw new BlockCorruptError(id, `record at segment ${loc.seg} offset ${loc.off} is ${h.id} (${h.size} bytes), not the indexed one`);
  }
  const data = rec.subarray(loc.headBytes, loc.headBytes + loc.size);
  const crc = crc32(data) >>> 0;
  if (crc !== loc.crc) throw new BlockCorruptError(id, `crc32 ${hex(crc)}, header says ${hex(loc.crc)}`);
  return data;
}

/** Index value: u32 seg | u32 size | u32 crc | u16 headBytes | u16 zero | f64 off | f64 storedAtMs. */
export const LOC_BYTES = 32;

export function encodeLoc(loc: BlockLoc): Buffer {
  const b = Buffer.alloc(LOC_BYTES);
  b.writeUInt32LE(loc.seg, 0);
  b.writeUInt32LE(loc.size, 4);
  b.writeUInt32LE(loc.crc >>> 0, 8);
  b.writeUInt16LE(loc.headBytes, 12);
  b.writeDoubleLE(loc.off, 16);
  b.writeDoubleLE(loc.storedAtMs, 24);
  return b;
}

/** null for a value of the wrong length: an index entry only this code writes, so that is corruption. */
export function decodeLoc(b: Buffer): BlockLoc | null {
  if (b.length !== LOC_BYTES) return null;
  return {
    seg: b.readUInt32LE(0), size: b.readUInt32LE(4), crc: b.readUInt32LE(8), headBytes: b.readUInt16LE(12),
    off: b.readDoubleLE(16), storedAtMs: b.readDoubleLE(24),
  };
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
