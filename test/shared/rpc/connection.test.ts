import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { PROTOCOL_VERSION } from '../../../shared/protocol/handshake.js';
import { PreparedRequest, RpcConnection } from '../../../shared/rpc/connection.js';
import { RpcServer, type Outcome } from '../../../storagenode/rpc/server.js';

const CLUSTER = 'test-cluster';
const HELLO = { protocol: PROTOCOL_VERSION, cluster: CLUSTER, role: 'client' as const, client: 'test' };
const BLOCK_ID = '0123456789a-0123456789abcdef';
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A server that records the sha256 of every blockPut it gets; `hold` keeps replies back until release(). */
async function blockServer(): Promise<{ server: RpcServer; url: string; got: string[]; hold: boolean; release(): void }> {
  let gates: (() => void)[] = [];
  const s = {
    got: [] as string[], hold: false,
    release: () => { for (const g of gates.splice(0)) g(); },
  } as { server: RpcServer; url: string; got: string[]; hold: boolean; release(): void };
  s.server = await RpcServer.listen({
    host: '127.0.0.1', port: 0, cluster: CLUSTER,
    handlers: {
      hello: () => ({ protocol: PROTOCOL_VERSION, cluster: CLUSTER, node: 'stub', leader: null, members: [], replicas: 3 }),
      request: async (_ctx, op, args): Promise<Outcome> => {
        if (op !== 'blockPut') return { ok: false, code: 'ENOSYS' };
        s.got.push(sha((args as { data: Uint8Array }).data));
        if (s.hold) await new Promise<void>((resolve) => gates.push(resolve));
        return { ok: true, result: {} };
      },
    },
  });
  s.url = `ws://127.0.0.1:${s.server.port}`;
  return s;
}

t.test('a prepared request is encoded once and sent to several nodes intact', async (t) => {
  const servers = await Promise.all([blockServer(), blockServer(), blockServer()]);
  t.teardown(() => Promise.all(servers.map((s) => s.server.close())));
  const conns = await Promise.all(servers.map((s) => RpcConnection.connect({ url: s.url, hello: HELLO })));
  t.teardown(() => conns.forEach((c) => c.close()));
  const data = Buffer.alloc(1 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
  const req = new PreparedRequest('blockPut', { id: BLOCK_ID, data });
  t.same(await Promise.all(conns.map((c) => c.callPrepared(req, { timeoutMs: 5000 }))), [{}, {}, {}]);
  t.same(servers.map((s) => s.got), [[sha(data)], [sha(data)], [sha(data)]], 'every node got the same bytes');
  t.same(await conns[0]!.call('blockPut', { id: BLOCK_ID, data }), {}, 'plain calls share the id counter');
  t.equal(servers[0]!.got.length, 2);
});

t.test('a prepared request sent twice on one connection while pending gets a fresh id', async (t) => {
  const s = await blockServer();
  t.teardown(() => s.server.close());
  const conn = await RpcConnection.connect({ url: s.url, hello: HELLO });
  t.teardown(() => conn.close());
  s.hold = true;
  const req = new PreparedRequest('blockPut', { id: BLOCK_ID, data: Buffer.from('abc') });
  const first = conn.callPrepared(req);
  const second = conn.callPrepared(req);
  while (s.got.length < 2) await new Promise((r) => setTimeout(r, 5));
  s.release();
  t.same(await Promise.all([first, second]), [{}, {}], 'both settle, each by its own reply');
});

t.test('client frames carry the mask bit with an all-zero key (no XOR, no copy)', async (t) => {
  // A raw TCP server that completes the WebSocket handshake and records the first frame's header.
  const header = new Promise<Buffer>((resolve) => {
    const srv = createServer((sock: Socket) => {
      let buf = Buffer.alloc(0);
      let upgraded = false;
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (!upgraded) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const key = /sec-websocket-key: *(\S+)/i.exec(buf.subarray(0, end).toString())![1]!;
          const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
          sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
          upgraded = true;
          buf = buf.subarray(end + 4);
        }
        if (buf.length >= 6) {
          resolve(Buffer.from(buf.subarray(0, 14)));
          sock.destroy();
          srv.close();
        }
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      RpcConnection.connect({ url: `ws://127.0.0.1:${port}`, hello: HELLO, connectTimeoutMs: 2000 }).catch(() => {});
    });
  });
  const h = await header;
  t.equal(h[0]! & 0x0f, 2, 'a binary frame');
  t.equal(h[1]! & 0x80, 0x80, 'mask bit set, as RFC 6455 requires of clients');
  const len7 = h[1]! & 0x7f;
  const keyAt = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
  t.same([...h.subarray(keyAt, keyAt + 4)], [0, 0, 0, 0], 'masking key is zero');
});
