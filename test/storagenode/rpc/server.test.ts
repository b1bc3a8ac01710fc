import t from 'tap';
import { REQUESTS_IN_FLIGHT_MAX } from '../../../shared/limits.js';
import { PROTOCOL_VERSION } from '../../../shared/protocol/handshake.js';
import { RpcConnection } from '../../../shared/rpc/connection.js';
import { CLUSTER, HELLO, RawConn, stubServer } from './harness.js';

t.test('rpc server: handshake', async (t) => {
  const s = await stubServer();
  t.teardown(() => s.server.close());

  t.test('refuses a request before hello with UNAUTHORIZED and closes', async (t) => {
    const c = await RawConn.open(s.url);
    c.sendFrame({ id: 5, op: 'getattr', args: { ino: 1 } });
    t.match(await c.reply(5), { ok: false, code: 'UNAUTHORIZED', message: /first request must be hello/ });
    t.equal(await c.closed, 1008);
  });

  t.test('refuses another protocol version with PROTOCOL and closes', async (t) => {
    const c = await RawConn.open(s.url);
    c.sendFrame({ id: 1, op: 'hello', args: { ...HELLO, protocol: PROTOCOL_VERSION + 1 } });
    t.match(await c.reply(1), { ok: false, code: 'PROTOCOL', message: /protocol version/ });
    await c.closed;
  });

  t.test('refuses another cluster with UNAUTHORIZED and closes', async (t) => {
    const c = await RawConn.open(s.url);
    c.sendFrame({ id: 1, op: 'hello', args: { ...HELLO, cluster: 'other' } });
    t.match(await c.reply(1), { ok: false, code: 'UNAUTHORIZED', message: /cluster test-cluster, not other/ });
    await c.closed;
  });

  t.test('refuses a malformed hello naming the field', async (t) => {
    const c = await RawConn.open(s.url);
    c.sendFrame({ id: 1, op: 'hello', args: { ...HELLO, role: 'god' } });
    t.match(await c.reply(1), { ok: false, code: 'PROTOCOL', message: /args\.role/ });
    await c.closed;
  });

  t.test('answers a second hello with PROTOCOL and keeps the connection', async (t) => {
    const c = await RawConn.shaken(s.url);
    c.sendFrame({ id: 2, op: 'hello', args: HELLO });
    t.match(await c.reply(2), { ok: false, code: 'PROTOCOL' });
    c.sendFrame({ id: 3, op: 'getattr', args: { ino: 1 } });
    t.match(await c.reply(3), { ok: true, result: { op: 'getattr' } });
    c.close();
  });

  t.test('works with the real RpcConnection', async (t) => {
    const conn = await RpcConnection.connect({ url: s.url, hello: HELLO });
    t.match(conn.helloReply, { cluster: CLUSTER, node: 'stub' });
    t.match(await conn.call('getattr', { ino: 7 }), { op: 'getattr', args: { ino: 7 } });
    await t.rejects(conn.call('getattr', { ino: 404 }), { code: 'ENOENT' });
    conn.close();
  });
});

t.test('rpc server: requests', async (t) => {
  const s = await stubServer();
  t.teardown(() => s.server.close());

  t.test('pipelines: a fast request is answered while a slow one waits', async (t) => {
    const c = await RawConn.shaken(s.url);
    c.sendFrame({ id: 10, op: 'readdir', args: { ino: 1 } });
    c.sendFrame({ id: 11, op: 'getattr', args: { ino: 1 } });
    t.match(await c.reply(11), { ok: true });
    t.notOk(c.frames.some((f) => 'id' in f && f.id === 10), 'slow one still pending');
    s.release();
    t.match(await c.reply(10), { ok: true });
    c.close();
  });

  t.test('answers TOO_BUSY past the in-flight limit, and serves again once under it', async (t) => {
    const c = await RawConn.shaken(s.url);
    for (let i = 0; i < REQUESTS_IN_FLIGHT_MAX; i++) c.sendFrame({ id: 100 + i, op: 'readdir', args: { ino: 1 } });
    c.sendFrame({ id: 99, op: 'getattr', args: { ino: 1 } });
    t.match(await c.reply(99), { ok: false, code: 'TOO_BUSY' });
    s.release();
    await c.reply(100 + REQUESTS_IN_FLIGHT_MAX - 1);
    c.sendFrame({ id: 98, op: 'getattr', args: { ino: 1 } });
    t.match(await c.reply(98), { ok: true });
    c.close();
  });

  t.test('answers EIO when a handler throws, and keeps serving', async (t) => {
    const c = await RawConn.shaken(s.url);
    c.sendFrame({ id: 2, op: 'getattr', args: { ino: 666 } });
    t.match(await c.reply(2), { ok: false, code: 'EIO' });
    c.sendFrame({ id: 3, op: 'getattr', args: { ino: 1 } });
    t.match(await c.reply(3), { ok: true });
    c.close();
  });

  t.test('keeps peer-only and admin ops from clients', async (t) => {
    const c = await RawConn.shaken(s.url);
    c.sendFrame({ id: 2, op: 'raft', args: { msg: {} } });
    t.match(await c.reply(2), { ok: false, code: 'UNAUTHORIZED' });
    c.sendFrame({ id: 3, op: 'memberRemove', args: { id: 'n1' } });
    t.match(await c.reply(3), { ok: false, code: 'UNAUTHORIZED' });
    c.close();
    const p = await RawConn.shaken(s.url, { ...HELLO, role: 'peer', node: 'n9' });
    p.sendFrame({ id: 2, op: 'raft', args: { msg: {} } });
    t.match(await p.reply(2), { ok: true });
    p.close();
  });

  t.test('delivers pushes to the connection', async (t) => {
    const pushes: { push: string; data: unknown }[] = [];
    const conn = await RpcConnection.connect({ url: s.url, hello: HELLO, onPush: (push, data) => pushes.push({ push, data }) });
    await conn.call('sessionRenew', { session: 's1' });
    t.same(pushes, [{ push: 'grant', data: { session: 's1' } }]);
    conn.close();
  });
});
