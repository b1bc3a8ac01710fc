/**
 * Room lent in front of a payload, so that a frame carrying it can be written around it without a
 * copy (data-reply.ts for blockGet answers, block-put-frame.ts for blockPut requests). Packing such a
 * frame copies the payload into msgpackr's buffer (a 4 MiB copy per block, and when that buffer runs
 * out, a fresh 16 MiB one plus a copy of what it held). When the bytes just before the payload belong
 * to nobody, the envelope is written into them and the frame is a view from there to the payload's
 * end. The bytes on the wire are ordinary msgpack (bin 32 for the payload), so the receiver does not
 * know the difference.
 *
 * Only the code that allocated a buffer knows that part of it is free, so it says so: lendRoom(view,
 * n) marks the n bytes before `view` as free. The mark is used once (deleted when a frame is written
 * into the room), so two frames in flight never share bytes.
 */
const rooms = new WeakMap<Uint8Array, number>();

/** Payloads smaller than this are packed as usual: the copy is cheap and small buffers may be pooled. */
export const IN_PLACE_MIN_BYTES = 64 * 1024;

/** Says that the `bytes` bytes before `view` in its ArrayBuffer are owned by no one else and may be overwritten. */
export function lendRoom(view: Uint8Array, bytes: number): void {
  if (bytes > 0 && bytes <= view.byteOffset) rooms.set(view, bytes);
}

/** The free bytes before `view` that lendRoom recorded (0 when none). */
export function roomOf(view: Uint8Array): number {
  return rooms.get(view) ?? 0;
}

/**
 * The frame `prefix` + `data`, written in the room lent before `data` (which it uses up), or null
 * when the payload is small or has no (or too little) room lent before it.
 */
export function frameInRoom(prefix: () => Buffer, data: Uint8Array): Buffer | null {
  const room = roomOf(data);
  if (data.byteLength < IN_PLACE_MIN_BYTES || data.byteLength > 0xffffffff || room === 0) return null;
  const head = prefix();
  if (room < head.length) return null;
  rooms.delete(data);
  const frame = Buffer.from(data.buffer, data.byteOffset - head.length, head.length + data.byteLength);
  frame.set(head, 0);
  return frame;
}

const ENVELOPE_HEAD = Buffer.from([0x83, 0xa2, 0x69, 0x64]); // map of 3, "id"

/** The start of every envelope framed in place: a map of 3 whose first key is "id", and the id. */
export function envelopeHead(id: number): Buffer {
  return Buffer.concat([ENVELOPE_HEAD, uintBytes(id)]);
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

/** A string in msgpack's shortest form (fixstr, str 8 or str 16). */
export function strBytes(s: string): Buffer {
  const utf8 = Buffer.from(s, 'utf8');
  let head: Buffer;
  if (utf8.length < 32) head = Buffer.from([0xa0 | utf8.length]);
  else if (utf8.length <= 0xff) head = Buffer.from([0xd9, utf8.length]);
  else if (utf8.length <= 0xffff) { head = Buffer.allocUnsafe(3); head[0] = 0xda; head.writeUInt16BE(utf8.length, 1); }
  else throw new RangeError(`string of ${utf8.length} bytes is too long for a frame prefix`);
  return Buffer.concat([head, utf8]);
}

/** msgpack bin 32 header for `len` bytes. */
export function bin32Header(len: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = 0xc6;
  b.writeUInt32BE(len, 1);
  return b;
}
