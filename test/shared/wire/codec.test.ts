import t from 'tap';
import { decodeFrame, encodeFrame, ProtocolError } from '../../../shared/wire/codec.js';
import { FRAME_BYTES_MAX } from '../../../shared/limits.js';
import { OPS } from '../../../shared/protocol/ops.js';
import { Invalid } from '../../../shared/wire/validate.js';

t.test('round-trips a request with binary args', async (t) => {
  const f = decodeFrame(encodeFrame({ id: 7, op: 'blockPut', args: { id: 'x', data: Buffer.from('abc') } }));
  t.notOk(f instanceof ProtocolError);
  t.match(f, { id: 7, op: 'blockPut' });
});

t.test('refuses an oversized frame before decoding it', async (t) => {
  const e = decodeFrame(Buffer.alloc(FRAME_BYTES_MAX + 1));
  t.ok(e instanceof ProtocolError);
  t.equal((e as ProtocolError).code, 'FRAME_TOO_LARGE');
});

t.test('reports malformed msgpack and non-map frames with stable codes', async (t) => {
  t.equal((decodeFrame(Buffer.from([0x92, 0x01])) as ProtocolError).code, 'MALFORMED_MSGPACK');
  t.equal((decodeFrame(encodeFrame([1, 2] as never)) as ProtocolError).code, 'NOT_AN_ENVELOPE');
  t.equal((decodeFrame(encodeFrame({ id: -1, op: 'x', args: {} })) as ProtocolError).code, 'BAD_REQUEST_ID');
  t.equal((decodeFrame(encodeFrame({ id: 1, op: 'x'.repeat(100), args: {} })) as ProtocolError).code, 'BAD_OP_NAME');
});

t.test('op schemas reject wrong types and unknown fields with a path', async (t) => {
  const bad = OPS.lookup({ parent: '1', name: 'a' }, '');
  t.ok(bad instanceof Invalid);
  t.equal(String(bad), 'parent: expected an integer');
  t.ok(OPS.lookup({ parent: 1, name: 'a', extra: 1 }, '') instanceof Invalid);
  t.same(OPS.lookup({ parent: 1, name: 'a' }, ''), { parent: 1, name: 'a' });
  t.same(OPS.setattr({ ino: 2, cred: { uid: 0, gid: 0, groups: [] }, mtime: 'now' }, ''), { ino: 2, cred: { uid: 0, gid: 0, groups: [] }, mtime: 'now' });
});
