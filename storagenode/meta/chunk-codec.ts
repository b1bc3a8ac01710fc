import type { Slice } from '../../shared/types.js';
import { pack, unpack, type ChunkRec } from './records.js';

/**
 * The stored form of a chunk's slice list (c/<ino>/<chunk>, keys.ts). Every commitWrite rewrites the
 * whole list of each chunk it touches, and random small writes grow a chunk to thousands of slices
 * before compaction: as msgpack maps (each with four keys and a block id string) a node spent most of
 * its CPU packing and unpacking them during random writes (docs/perf-writes.md, "Session 11"). Here a
 * list is a table of its distinct block ids (slices written by one commit share their packed block)
 * and 14 bytes per slice:
 *
 *   u8 TAG | u8 version | u32 slices | u16 ids | ids: (u8 length, latin1 bytes)... |
 *   slices: (u32 pos, u32 len, u32 off, u16 id index)...            (little-endian)
 *
 * TAG is 0xc1, the one byte msgpack never uses, so a list stored by an older build (a msgpack array)
 * still decodes. A list this form cannot hold (a value out of range, which validated ops never
 * produce) is stored as msgpack, as before. Encoding is deterministic, as replicas require.
 */
const TAG = 0xc1;
const VERSION = 1;
const HEAD_BYTES = 8;
const SLICE_BYTES = 14;
const U32_MAX = 0xffffffff;
const IDS_MAX = 0xffff;
const ID_BYTES_MAX = 0xff;

export function packChunk(list: ChunkRec): Buffer {
  const index = new Map<string, number>();
  let idBytes = 0;
  for (const s of list) {
    if (!fitsU32(s.pos) || !fitsU32(s.len) || !fitsU32(s.off) || typeof s.block !== 'string') return pack(list);
    if (index.has(s.block)) continue;
    const n = Buffer.byteLength(s.block, 'latin1');
    if (n > ID_BYTES_MAX || !isLatin1(s.block) || index.size === IDS_MAX) return pack(list);
    index.set(s.block, index.size);
    idBytes += 1 + n;
  }
  const out = Buffer.allocUnsafe(HEAD_BYTES + idBytes + SLICE_BYTES * list.length);
  out[0] = TAG;
  out[1] = VERSION;
  out.writeUInt32LE(list.length, 2);
  out.writeUInt16LE(index.size, 6);
  let at = HEAD_BYTES;
  for (const id of index.keys()) {
    out[at] = id.length;
    at = 1 + at + out.write(id, at + 1, 'latin1');
  }
  for (const s of list) {
    out.writeUInt32LE(s.pos, at);
    out.writeUInt32LE(s.len, at + 4);
    out.writeUInt32LE(s.off, at + 8);
    out.writeUInt16LE(index.get(s.block)!, at + 12);
    at += SLICE_BYTES;
  }
  return out;
}

export function unpackChunk(b: Uint8Array): ChunkRec {
  if (b[0] !== TAG) return unpack<ChunkRec>(b);
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length < HEAD_BYTES || buf[1] !== VERSION) throw new Error(`chunk record: unknown layout (version ${buf[1]}, ${buf.length} bytes)`);
  const count = buf.readUInt32LE(2);
  const ids: string[] = new Array(buf.readUInt16LE(6));
  let at = HEAD_BYTES;
  for (let i = 0; i < ids.length; i++) {
    const n = buf[at]!;
    if (at + 1 + n > buf.length) throw new Error('chunk record: block id table runs past the end');
    ids[i] = buf.toString('latin1', at + 1, at + 1 + n);
    at += 1 + n;
  }
  if (at + count * SLICE_BYTES !== buf.length) throw new Error(`chunk record: ${buf.length - at} bytes for ${count} slices`);
  const list: Slice[] = new Array(count);
  for (let i = 0; i < count; i++, at += SLICE_BYTES) {
    const block = ids[buf.readUInt16LE(at + 12)];
    if (block === undefined) throw new Error('chunk record: a slice names a block id past the table');
    list[i] = { pos: buf.readUInt32LE(at), len: buf.readUInt32LE(at + 4), block, off: buf.readUInt32LE(at + 8) };
  }
  return list;
}

function fitsU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= U32_MAX;
}

function isLatin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}
