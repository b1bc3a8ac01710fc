/**
 * Zero-copy framing of a data reply ({id, ok: true, result: {data}}: a blockGet answer). Packing such
 * a reply copies the payload into msgpackr's buffer (a 4 MiB copy per block read, and when that
 * buffer runs out, a fresh 16 MiB buffer plus a copy of what it held: ~1 s of node CPU per 340 MiB
 * served, docs/perf-reads.md). When the bytes just before the payload belong to nobody (the block
 * store read the record's head there and has checked it), the envelope is written into them and the
 * frame is a view from there to the payload's end. The bytes on the wire are ordinary msgpack (bin 32
 * for the payload), so the receiver does not know the difference.
 *
 * Only the code that allocated a buffer knows that part of it is free, so it says so: lendRoom(view,
 * n) marks the n bytes before `view` as free. The mark is used once (deleted when a frame is written
 * into the room), so two frames in flight never share bytes.
 */
const rooms = new WeakMap<Uint8Array, number>();

/** Payloads smaller than this are packed as usual: the copy is cheap and small buffers may be pooled. */
export const IN_PLACE_MIN_BYTES = 64 * 1024;
/** The longest envelope written in front of a payload (an id that needs a uint64). */
export const DATA_REPLY_PREFIX_BYTES_MAX = 35;

/** Says that the `bytes` bytes before `view` in its ArrayBuffer are owned by no one else and may be overwritten. */
export function lendRoom(view: Uint8Array, bytes: number): void {
  if (bytes > 0 && bytes <= view.byteOffset) rooms.set(view, bytes);
}

/** The free bytes before `view` that lendRoom recorded (0 when none). */
export function roomOf(view: Uint8Array): number {
  return rooms.get(view) ?? 0;
}

/**
 * The frame {id, ok: true, result: {data}} written in place in front of `data`, or null when the
 * payload is small or has no (or too little) room lent before it.
 */
export function encodeDataReplyInPlace(id: number, data: Uint8Array): Buffer | null {
  if (data.byteLength < IN_PLACE_MIN_BYTES || data.byteLength > 0xffffffff) return null;
  const prefix = dataReplyPrefix(id, data.byteLength);
  if (roomOf(data) < prefix.length) return null;
  rooms.delete(data);
  const start = data.byteOffset - prefix.length;
  const frame = Buffer.from(data.buffer, start, prefix.length + data.byteLength);
  frame.set(prefix, 0);
  return frame;
}

const HEAD = Buffer.from([0x83, 0xa2, 0x69, 0x64]); // map of 3, "id"
// true for "ok", then "result": a map of 1, "data": bin 32
const MIDDLE = Buffer.from([0xa2, 0x6f, 0x6b, 0xc3, 0xa6, 0x72, 0x65, 0x73, 0x75, 0x6c, 0x74, 0x81, 0xa4, 0x64, 0x61, 0x74, 0x61, 0xc6]);

/** The msgpack bytes of the envelope up to and including the payload's bin 32 length. */
export function dataReplyPrefix(id: number, len: number): Buffer {
  const idBytes = uintBytes(id);
  const out = Buffer.allocUnsafe(HEAD.length + idBytes.length + MIDDLE.length + 4);
  HEAD.copy(out, 0);
  idBytes.copy(out, HEAD.length);
  MIDDLE.copy(out, HEAD.length + idBytes.length);
  out.writeUInt32BE(len, out.length - 4);
  return out;
}

/** A non-negative safe integer in msgpack's shortest unsigned form. */
function uintBytes(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`request id ${n} is not a non-negative safe integer`);
  if (n < 0x80) return Buffer.from([n]);
  if (n <= 0xff) return Buffer.from([0xcc, n]);
  if (n <= 0xffff) { const b = Buffer.allocUnsafe(3); b[0] = 0xcd; b.writeUInt16BE(n, 1); return b; }
  if (n <= 0xffffffff) { const b = Buffer.allocUnsafe(5); b[0] = 0xce; b.writeUInt32BE(n, 1); return b; }
  const b = Buffer.allocUnsafe(9);
  b[0] = 0xcf;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}
