import { randomBytes } from 'node:crypto';
import { lendRoom } from '../../../shared/wire/room.js';

/** A random payload of `len` bytes with `room` bytes (0xee) before it in one fresh buffer, lent when `lend`. */
export function lentPayload(len: number, room: number, lend = true): { buf: Buffer; data: Buffer } {
  const buf = Buffer.alloc(room + len, 0xee);
  const data = buf.subarray(room);
  data.set(randomBytes(len));
  if (lend) lendRoom(data, room);
  return { buf, data };
}
