import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../../../shared/protocol/handshake.js';
import { decodeFrame, encodeFrame, ProtocolError } from '../../../shared/wire/codec.js';
import type { Frame } from '../../../shared/wire/envelope.js';
import { RpcServer, type Outcome } from '../../../storagenode/rpc/server.js';

export const CLUSTER = 'test-cluster';
export const HELLO = { protocol: PROTOCOL_VERSION, cluster: CLUSTER, role: 'client' as const, client: 'test' };

/** A socket that speaks raw frames, so tests can send what a real client never would. */
export class RawConn {
  readonly frames: Frame[] = [];
  closeCode: number | null = null;
  private waiters: (() => void)[] = [];
  readonly closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (d: Buffer) => {
      const f = decodeFrame(d);
      if (!(f instanceof ProtocolError)) this.frames.push(f);
      this.wake();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
      resolve(code);
    }));
  }

  static async open(url: string): Promise<RawConn> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    const c = new RawConn(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  static async shaken(url: string, hello: object = HELLO): Promise<RawConn> {
    const c = await RawConn.open(url);
    c.sendFrame({ id: 1, op: 'hello', args: hello });
    const r = await c.reply(1);
    if (!('ok' in r) || !r.ok) throw new Error(`hello refused: ${JSON.stringify(r)}`);
    return c;
  }

  sendFrame(f: unknown): void {
    this.ws.send(encodeFrame(f as Frame), { binary: true });
  }
  sendRaw(b: Buffer | string, binary = true): void {
    this.ws.send(b, { binary });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The reply with this id, or rejects if the connection closes or 5 s pass first. */
  async reply(id: number, timeoutMs = 5000): Promise<Frame & { id: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find((x) => 'id' in x && x.id === id && !('op' in x));
      if (f) return f as Frame & { id: number };
      if (this.closeCode !== null) throw new Error(`closed (${this.closeCode}) before reply #${id}`);
      if (Date.now() > deadline) throw new Error(`no reply #${id} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.ws.terminate();
  }
}

/** A server with stub handlers: echo for most ops, a slow op, a throwing op. */
export async function stubServer(): Promise<{ server: RpcServer; url: string; release(): void }> {
  let gates: (() => void)[] = [];
  const server = await RpcServer.listen({
    host: '127.0.0.1', port: 0, cluster: CLUSTER,
    peerOps: new Set(['raft']), adminOps: new Set(['memberAdd', 'memberRemove']),
    handlers: {
      hello: () => ({ protocol: PROTOCOL_VERSION, cluster: CLUSTER, node: 'stub', leader: null, members: [], replicas: 3 }),
      request: async (ctx, op, args): Promise<Outcome> => {
        const a = args as Record<string, unknown>;
        if (op === 'getattr' && a.ino === 666) throw new Error('handler bug on purpose');
        if (op === 'getattr' && a.ino === 404) return { ok: false, code: 'ENOENT' };
        if (op === 'sessionRenew') ctx.push('grant', args);
        if (op === 'readdir') await new Promise<void>((resolve) => gates.push(resolve)); // held until release()
        return { ok: true, result: { op, args } };
      },
    },
  });
  return {
    server, url: `ws://127.0.0.1:${server.port}`,
    release: () => {
      for (const g of gates) g();
      gates = [];
    },
  };
}

export { rng } from '../../helpers/rng.js';
