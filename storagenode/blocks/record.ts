import { crc32 } from 'node:zlib';
import type { BlockId } from '../../shared/types.js';
import { BlockCorruptError } from './block-store.js';

/**
 * The stored form of a block: a fixed header, then the bytes.
 *   u8 format version | u8[3] zero | u32 crc32 of the bytes | u32 length | u32 zero | f64 storedAtMs
 * The checksum covers the bytes only, so every replica of a block carries the same checksum and a scrub
 * can compare copies by header. zlib.crc32 (native, ~4.7 GB/s here) beat a slicing-by-8 crc32c in JS
 * (~1.1 GB/s) by 4x on 4 MiB buffers, so crc32 it is.
 */
export const RECORD_VERSION = 1;
export const HEADER_BYTES = 24;

export interface RecordHeader {
  crc: number;
  size: number;
  storedAtMs: number;
}

export function checksum(data: Uint8Array): number {
  return crc32(data) >>> 0;
}

export function encodeHeader(h: RecordHeader, into: Buffer = Buffer.alloc(HEADER_BYTES)): Buffer {
  into.fill(0, 0, HEADER_BYTES);
  into.writeUInt8(RECORD_VERSION, 0);
  into.writeUInt32LE(h.crc, 4);
  into.writeUInt32LE(h.size, 8);
  into.writeDoubleLE(h.storedAtMs, 16);
  return into;
}

/** Header then bytes in one buffer: the copy also detaches the block from the caller's frame buffer. */
export function encodeRecord(data: Uint8Array, crc: number, storedAtMs: number): Buffer {
  const rec = Buffer.allocUnsafe(HEADER_BYTES + data.length);
  encodeHeader({ crc, size: data.length, storedAtMs }, rec);
  rec.set(data, HEADER_BYTES);
  return rec;
}

/** Parses a header; a wrong version or a short buffer is corruption, since only this code writes them. */
export function decodeHeader(id: BlockId, buf: Uint8Array): RecordHeader {
  if (buf.length < HEADER_BYTES) throw new BlockCorruptError(id, `record of ${buf.length} bytes is shorter than its header`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const version = b.readUInt8(0);
  if (version !== RECORD_VERSION) throw new BlockCorruptError(id, `unknown record version ${version}`);
  return { crc: b.readUInt32LE(4), size: b.readUInt32LE(8), storedAtMs: b.readDoubleLE(16) };
}

/** Verifies a whole record and returns its bytes (a view, no copy). */
export function openRecord(id: BlockId, rec: Uint8Array): { header: RecordHeader; data: Uint8Array } {
  const header = decodeHeader(id, rec);
  const data = rec.subarray(HEADER_BYTES);
  if (data.length !== header.size) throw new BlockCorruptError(id, `length ${data.length}, header says ${header.size}`);
  const crc = checksum(data);
  if (crc !== header.crc) throw new BlockCorruptError(id, `crc32 ${hex(crc)}, header says ${hex(header.crc)}`);
  return { header, data };
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
