import t from 'tap';
import { Packr } from 'msgpackr';
import { decodeFrame, encodeFrame } from '../../../shared/wire/codec.js';
import { DATA_REPLY_PREFIX_BYTES_MAX } from '../../../shared/wire/data-reply.js';
import { IN_PLACE_MIN_BYTES, lendRoom, roomOf } from '../../../shared/wire/room.js';
import { lentPayload } from './lent-payload.js';

t.test('data reply: framed in the lent room, no copy, decodes as the packed frame does (ids of every msgpack width)', async (t) => {
  const plain = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' });
  for (const id of [1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    const { buf, data } = lentPayload(IN_PLACE_MIN_BYTES + 3, 64);
    const copy = Buffer.from(data);
    const frame = encodeFrame({ id, ok: true, result: { data } });
    t.equal(frame.buffer, buf.buffer, `id ${id}: the frame is a view of the payload's buffer`);
    t.equal(frame.byteOffset + frame.byteLength, data.byteOffset + data.byteLength, 'it ends with the payload');
    t.ok(frame.byteLength - data.byteLength <= DATA_REPLY_PREFIX_BYTES_MAX);
    t.same(decodeFrame(frame), { id, ok: true, result: { data: copy } }, `id ${id}: decodes to the reply`);
    t.same(plain.unpack(frame), plain.unpack(plain.pack({ id, ok: true, result: { data: copy } })), 'as msgpackr reads its own packing');
    t.same(data, copy, 'payload untouched');
    t.ok(buf.subarray(0, data.byteOffset - buf.byteOffset - (frame.byteLength - data.byteLength)).every((b) => b === 0xee), 'nothing written before the room it used');
  }
});

t.test('data reply: packed (copied) without lent room, with too little, below the size floor, or for other shapes', async (t) => {
  const cases: [string, Buffer, unknown][] = [];
  const none = lentPayload(IN_PLACE_MIN_BYTES, 64, false);
  cases.push(['no room lent', none.buf, { data: none.data }]);
  const short = lentPayload(IN_PLACE_MIN_BYTES, 64, false);
  lendRoom(short.data, 10);
  cases.push(['too little room', short.buf, { data: short.data }]);
  const small = lentPayload(IN_PLACE_MIN_BYTES - 1, 64);
  cases.push(['small payload', small.buf, { data: small.data }]);
  const extra = lentPayload(IN_PLACE_MIN_BYTES, 64);
  cases.push(['another key in the result', extra.buf, { data: extra.data, more: 1 }]);
  for (const [what, buf, result] of cases) {
    const frame = encodeFrame({ id: 9, ok: true, result });
    t.not(frame.buffer, buf.buffer, `${what}: packed into a buffer of its own`);
    t.same(decodeFrame(frame), { id: 9, ok: true, result }, `${what}: decodes`);
  }
  t.equal(roomOf(Buffer.alloc(10).subarray(5)), 0, 'lending more room than precedes the view is ignored');
});

t.test('data reply: lent room is used once: a second reply with the same payload is packed, the first frame stays intact', async (t) => {
  const { buf, data } = lentPayload(IN_PLACE_MIN_BYTES, 64);
  const first = encodeFrame({ id: 1000, ok: true, result: { data } });
  const keep = Buffer.from(first);
  const second = encodeFrame({ id: 7, ok: true, result: { data } });
  t.equal(first.buffer, buf.buffer);
  t.not(second.buffer, buf.buffer, 'the second frame does not reuse the room');
  t.same(first, keep, 'the first frame was not overwritten');
  t.same(decodeFrame(second), { id: 7, ok: true, result: { data } });
});
