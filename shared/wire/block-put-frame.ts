import { isBlockId } from '../block-id.js';
import { bin32Header, envelopeHead, frameInRoom, strBytes } from './room.js';

/**
 * Zero-copy framing of a block put request ({id, op: 'blockPut', args: {id: block, data}}) in the
 * room the client's writer allocates in front of each run (room.ts). Packing copied every block once
 * more into msgpackr's buffer: per 4 MiB block written, 4 MiB of copying and, as that buffer ran out,
 * fresh 16 MiB buffers that the garbage collector had to find again.
 */

/** Room enough for any block put envelope: a uint64 request id and the longest block id. */
export const BLOCK_PUT_PREFIX_BYTES_MAX = 96;

/** The frame written in place in front of `data`, or null when it has no (or too little) room lent. */
export function encodeBlockPutInPlace(id: number, block: string, data: Uint8Array): Buffer | null {
  if (!isBlockId(block)) return null; // the node refuses it; packing says so the usual way
  return frameInRoom(() => blockPutPrefix(id, block, data.byteLength), data);
}

// "op": "blockPut", "args": a map of 2, "id"
const MIDDLE = Buffer.from([0xa2, 0x6f, 0x70, 0xa8, ...Buffer.from('blockPut'), 0xa4, ...Buffer.from('args'), 0x82, 0xa2, 0x69, 0x64]);
const DATA_KEY = Buffer.from([0xa4, ...Buffer.from('data')]);

/** The msgpack bytes of the request up to and including the payload's bin 32 length. */
export function blockPutPrefix(id: number, block: string, len: number): Buffer {
  return Buffer.concat([envelopeHead(id), MIDDLE, strBytes(block), DATA_KEY, bin32Header(len)]);
}
