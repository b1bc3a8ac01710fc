import { bin32Header, envelopeHead, frameInRoom } from './room.js';

/**
 * Zero-copy framing of a data reply ({id, ok: true, result: {data}}: a blockGet answer) in the room the
 * block store lent before the payload (room.ts): without it, packing copied each 4 MiB block read,
 * ~1 s of node CPU per 340 MiB served (docs/perf-reads.md).
 */

/** The longest envelope written in front of a payload (an id that needs a uint64). */
export const DATA_REPLY_PREFIX_BYTES_MAX = 35;

/**
 * The frame {id, ok: true, result: {data}} written in place in front of `data`, or null when the
 * payload is small or has no (or too little) room lent before it.
 */
export function encodeDataReplyInPlace(id: number, data: Uint8Array): Buffer | null {
  return frameInRoom(() => dataReplyPrefix(id, data.byteLength), data);
}

// true for "ok", then "result": a map of 1, "data"
const MIDDLE = Buffer.from([0xa2, 0x6f, 0x6b, 0xc3, 0xa6, 0x72, 0x65, 0x73, 0x75, 0x6c, 0x74, 0x81, 0xa4, 0x64, 0x61, 0x74, 0x61]);

/** The msgpack bytes of the envelope up to and including the payload's bin 32 length. */
export function dataReplyPrefix(id: number, len: number): Buffer {
  return Buffer.concat([envelopeHead(id), MIDDLE, bin32Header(len)]);
}
