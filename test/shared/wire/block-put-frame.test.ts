import t from 'tap';
import { Packr } from 'msgpackr';
import { BLOCK_PUT_PREFIX_BYTES_MAX } from '../../../shared/wire/block-put-frame.js';
import { decodeFrame, encodeFrame } from '../../../shared/wire/codec.js';
import { IN_PLACE_MIN_BYTES } from '../../../shared/wire/room.js';
import { lentPayload } from './lent-payload.js';

const plain = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' });
const SHORT_BLOCK = '0123456789a-0123456789abcdef'; // fixstr
const LONG_BLOCK = '0123456789ab-0123456789abcdef0123456789abcdef'; // str 8, the longest block id

t.test('block put: framed in the lent room, no copy, decodes as the packed request does', async (t) => {
  for (const id of [1, 127, 128, 65_536, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    for (const block of [SHORT_BLOCK, LONG_BLOCK]) {
      const { buf, data } = lentPayload(IN_PLACE_MIN_BYTES + 5, BLOCK_PUT_PREFIX_BYTES_MAX);
      const copy = Buffer.from(data);
      const frame = encodeFrame({ id, op: 'blockPut', args: { id: block, data } });
      t.equal(frame.buffer, buf.buffer, `id ${id}, block id of ${block.length}: the frame is a view of the payload's buffer`);
      t.equal(frame.byteOffset + frame.byteLength, data.byteOffset + data.byteLength, 'it ends with the payload');
      t.same(decodeFrame(frame), { id, op: 'blockPut', args: { id: block, data: copy } }, 'decodes to the request');
      t.same(plain.unpack(frame), plain.unpack(plain.pack({ id, op: 'blockPut', args: { id: block, data: copy } })), 'as msgpackr reads its own packing');
      t.same(data, copy, 'payload untouched');
    }
  }
});

t.test('block put: packed (copied) without room, with too little, when small, with a bad block id or another key', async (t) => {
  const cases: [string, Buffer, Record<string, unknown>][] = [];
  const none = lentPayload(IN_PLACE_MIN_BYTES, BLOCK_PUT_PREFIX_BYTES_MAX, false);
  cases.push(['no room lent', none.buf, { id: LONG_BLOCK, data: none.data }]);
  const short = lentPayload(IN_PLACE_MIN_BYTES, 40, true);
  cases.push(['too little room', short.buf, { id: LONG_BLOCK, data: short.data }]);
  const small = lentPayload(IN_PLACE_MIN_BYTES - 1, BLOCK_PUT_PREFIX_BYTES_MAX);
  cases.push(['small payload', small.buf, { id: SHORT_BLOCK, data: small.data }]);
  const bad = lentPayload(IN_PLACE_MIN_BYTES, BLOCK_PUT_PREFIX_BYTES_MAX);
  cases.push(['not a block id', bad.buf, { id: 'x'.repeat(300), data: bad.data }]);
  const extra = lentPayload(IN_PLACE_MIN_BYTES, BLOCK_PUT_PREFIX_BYTES_MAX);
  cases.push(['another key', extra.buf, { id: SHORT_BLOCK, data: extra.data, more: 1 }]);
  for (const [what, buf, args] of cases) {
    const frame = encodeFrame({ id: 9, op: 'blockPut', args });
    t.not(frame.buffer, buf.buffer, `${what}: packed into a buffer of its own`);
    t.same(decodeFrame(frame), { id: 9, op: 'blockPut', args }, `${what}: decodes`);
  }
});

t.test('block put: the room is used once: a second send of the same payload (a retry) is packed, the first frame intact', async (t) => {
  const { buf, data } = lentPayload(IN_PLACE_MIN_BYTES, BLOCK_PUT_PREFIX_BYTES_MAX);
  const first = encodeFrame({ id: 70_000, op: 'blockPut', args: { id: LONG_BLOCK, data } });
  const keep = Buffer.from(first);
  const second = encodeFrame({ id: 3, op: 'blockPut', args: { id: LONG_BLOCK, data } });
  t.equal(first.buffer, buf.buffer);
  t.not(second.buffer, buf.buffer, 'the retry does not reuse the room');
  t.same(first, keep, 'the first frame was not overwritten');
});
