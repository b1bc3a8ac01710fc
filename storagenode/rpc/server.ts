import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ErrorCode } from '../../shared/errno.js';
import { FRAME_BYTES_MAX, REQUESTS_IN_FLIGHT_MAX } from '../../shared/limits.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/handshake.js';
import { isOpName, OPS, type OpArgs, type OpName } from '../../shared/protocol/ops.js';
import { decodeFrame, describeFrame, encodeFrame, ProtocolError } from '../../shared/wire/codec.js';
import type { Frame, Reply, Request } from '../../shared/wire/envelope.js';
import { Invalid } from '../../shared/wire/validate.js';

export type Role = 'client' | 'peer' | 'admin';

/** What a handler sees of the connection a request came on. */
export interface ConnContext {
  readonly connId: number;
  readonly role: Role;
  readonly peerNode: string | undefined; // the `node` field of a peer's hello
  readonly clientName: string | undefined;
  readonly remote: string;
  /** Server-initiated message (lock grants, invalidations); dropped silently once the connection is gone. */
  push(name: string, data: unknown): void;
  onClose(cb: () => void): void;
  /** Bytes queued on the socket and not yet sent (a slow or stuck reader lets this grow). */
  bufferedBytes?(): number;
}

/** A handler's answer: a result, or an error code (errno name or cluster condition). */
export type Outcome = { ok: true; result: unknown } | { ok: false; code: ErrorCode; message?: string; leader?: string };

export interface RpcHandlers {
  /** Answers `hello` once the version and cluster were checked. */
  hello(ctx: ConnContext, args: OpArgs<'hello'>): unknown;
  /** Every other op, with args already validated against OPS[op]. A throw is a bug: logged, answered EIO. */
  request(ctx: ConnContext, op: OpName, args: unknown): Promise<Outcome>;
}

export interface RpcServerOptions {
  host: string;
  port: number; // 0 picks a free port
  cluster: string;
  handlers: RpcHandlers;
  logger?: Logger;
  /** Ops only peers may send (Raft traffic, internal queries); others get UNAUTHORIZED. */
  peerOps?: ReadonlySet<string>;
  /** Ops only peers and admins may send (membership changes). */
  adminOps?: ReadonlySet<string>;
}

// WebSocket close codes (RFC 6455 §7.4.1).
const CLOSE_POLICY = 1008;
const CLOSE_UNSUPPORTED = 1003;
const CLOSE_BAD_DATA = 1007;

/**
 * The node's WebSocket endpoint (DESIGN.md invariant 7): every frame is size-limited by ws
 * (maxPayload), decoded and shape-checked by shared/wire, then checked against its op's schema before
 * a handler sees it. Requests are pipelined: each is handled as it arrives and answered as it completes.
 */
export class RpcServer {
  private readonly wss: WebSocketServer;
  private readonly log: Logger;
  private nextConnId = 1;
  private readonly conns = new Set<ServerConn>();

  private constructor(wss: WebSocketServer, private readonly opts: RpcServerOptions) {
    this.wss = wss;
    this.log = opts.logger ?? silentLogger;
    wss.on('connection', (ws, req) => {
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
      const c = new ServerConn(this.nextConnId++, ws, remote, this.opts, this.log);
      this.conns.add(c);
      ws.on('close', () => this.conns.delete(c));
    });
    wss.on('error', (e) => this.log.error(`server error: ${e.message}`));
  }

  static async listen(opts: RpcServerOptions): Promise<RpcServer> {
    const wss = new WebSocketServer({ host: opts.host, port: opts.port, maxPayload: FRAME_BYTES_MAX, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    return new RpcServer(wss, opts);
  }

  get port(): number {
    return (this.wss.address() as AddressInfo).port;
  }
  get connectionCount(): number {
    return this.conns.size;
  }

  /** Stops accepting, closes every connection (their in-flight requests get no reply). */
  async close(): Promise<void> {
    for (const c of this.conns) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

class ServerConn implements ConnContext {
  private shaken = false;
  private closed = false;
  private inFlight = 0;
  private readonly closeCbs: (() => void)[] = [];
  role: Role = 'client';
  peerNode: string | undefined;
  clientName: string | undefined;

  constructor(readonly connId: number, private readonly ws: WebSocket, readonly remote: string,
    private readonly opts: RpcServerOptions, private readonly log: Logger) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    // ws reports protocol violations (bad opcode, oversized payload) as 'error' and then closes; an
    // unhandled 'error' event would crash the process.
    ws.on('error', (e) => this.log.debug(`${this.remote}: socket error: ${e.message}`));
    ws.on('close', () => {
      this.closed = true;
      for (const cb of this.closeCbs.splice(0)) safely(cb, this.log);
    });
  }

  push(name: string, data: unknown): void {
    if (this.closed || !this.shaken) return;
    this.send({ push: name, data });
  }
  onClose(cb: () => void): void {
    if (this.closed) queueMicrotask(cb);
    else this.closeCbs.push(cb);
  }
  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }
  terminate(): void {
    this.ws.terminate();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary) return this.refuse(0, 'PROTOCOL', 'text frames are not part of the protocol', CLOSE_UNSUPPORTED);
    const f = decodeFrame(data);
    if (f instanceof ProtocolError) return this.onBadFrame(f);
    if (!('op' in f)) return this.refuse(0, 'PROTOCOL', `unexpected ${describeFrame(f as Frame)} from a client`, CLOSE_POLICY);
    if (!this.shaken) return this.onFirstRequest(f);
    this.onRequest(f);
  }

  private onBadFrame(e: ProtocolError): void {
    // A frame whose id we could read but whose op we could not is a request error, not a broken stream.
    if (e.code === 'BAD_OP_NAME' && this.shaken) return this.reply({ id: e.requestId, ok: false, code: 'PROTOCOL', message: e.message });
    this.refuse(e.requestId, 'PROTOCOL', `${e.code}: ${e.message}`, CLOSE_BAD_DATA);
  }

  private onFirstRequest(f: Request): void {
    if (f.op !== 'hello') return this.refuse(f.id, 'UNAUTHORIZED', `the first request must be hello, not ${f.op.slice(0, 64)}`, CLOSE_POLICY);
    const args = OPS.hello(f.args, 'args');
    if (args instanceof Invalid) return this.refuse(f.id, 'PROTOCOL', `bad hello: ${args}`, CLOSE_POLICY);
    if (args.protocol !== PROTOCOL_VERSION) {
      return this.refuse(f.id, 'PROTOCOL', `protocol version ${args.protocol} is not supported (this node speaks ${PROTOCOL_VERSION})`, CLOSE_POLICY);
    }
    if (args.cluster !== this.opts.cluster) {
      return this.refuse(f.id, 'UNAUTHORIZED', `this node belongs to cluster ${this.opts.cluster}, not ${args.cluster}`, CLOSE_POLICY);
    }
    this.role = args.role;
    this.peerNode = args.node;
    this.clientName = args.client;
    let result: unknown;
    try {
      result = this.opts.handlers.hello(this, args);
    } catch (e) {
      this.log.error(`bug: hello handler threw for ${this.remote}: ${(e as Error).stack ?? e}`);
      return this.refuse(f.id, 'EIO', 'internal error', CLOSE_POLICY);
    }
    this.shaken = true;
    this.reply({ id: f.id, ok: true, result });
  }

  private onRequest(f: Request): void {
    const id = f.id;
    if (!isOpName(f.op)) return this.replyIf(id, { ok: false, code: 'PROTOCOL', message: `unknown op ${f.op}` });
    if (f.op === 'hello') return this.replyIf(id, { ok: false, code: 'PROTOCOL', message: 'hello was already done on this connection' });
    const denied = this.denied(f.op);
    if (denied) return this.replyIf(id, { ok: false, code: 'UNAUTHORIZED', message: denied });
    const args = OPS[f.op](f.args, 'args');
    if (args instanceof Invalid) return this.replyIf(id, { ok: false, code: 'PROTOCOL', message: `${f.op}: ${args}` });
    if (id !== 0 && this.inFlight >= REQUESTS_IN_FLIGHT_MAX) {
      return this.replyIf(id, { ok: false, code: 'TOO_BUSY', message: `more than ${REQUESTS_IN_FLIGHT_MAX} requests in flight` });
    }
    if (id !== 0) this.inFlight++;
    void this.run(f.op, args, id);
  }

  private denied(op: string): string | null {
    if (this.opts.peerOps?.has(op) && this.role !== 'peer') return `${op} is for peers only`;
    if (this.opts.adminOps?.has(op) && this.role === 'client') return `${op} needs an admin or peer connection`;
    return null;
  }

  private async run(op: OpName, args: unknown, id: number): Promise<void> {
    let out: Outcome;
    try {
      out = await this.opts.handlers.request(this, op, args);
    } catch (e) {
      this.log.error(`bug: ${op} (request #${id} from ${this.remote}) threw: ${(e as Error)?.stack ?? String(e)}`);
      out = { ok: false, code: 'EIO', message: `internal error in ${op}` };
    } finally {
      if (id !== 0) this.inFlight--;
    }
    this.replyIf(id, out);
  }

  /** One-way requests (id 0) get no reply, not even an error: the sender is not waiting for one. */
  private replyIf(id: number, out: Outcome): void {
    if (id === 0) {
      if (!out.ok) this.log.debug(`${this.remote}: one-way request failed: ${out.code} ${out.message ?? ''}`);
      return;
    }
    this.reply(out.ok ? { id, ok: true, result: out.result } : { id, ...out });
  }

  private reply(r: Reply): void {
    this.send(r);
  }

  private send(f: Frame): void {
    if (this.closed) return;
    let buf: Buffer;
    try {
      buf = encodeFrame(f);
    } catch (e) {
      this.log.error(`bug: cannot encode ${describeFrame(f)}: ${(e as Error).message}`);
      if ('id' in f && f.id !== 0) buf = encodeFrame({ id: f.id, ok: false, code: 'EIO', message: 'unencodable reply' });
      else return;
    }
    this.ws.send(buf, { binary: true }, (err) => {
      if (err) this.log.debug(`${this.remote}: send failed: ${err.message}`);
    });
  }

  /** Answers (so a well-behaved peer learns why) and closes: the stream can no longer be trusted. */
  private refuse(id: number, code: ErrorCode, message: string, closeCode: number): void {
    this.log.debug(`${this.remote}: refusing: ${code} ${message}`);
    this.reply({ id, ok: false, code, message });
    this.closed = true;
    // A close reason is at most 123 bytes; keep it short ASCII.
    this.ws.close(closeCode, message.replace(/[^\x20-\x7e]/g, '?').slice(0, 100));
    // A peer that never completes the close handshake must not hold the socket forever.
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }
}

function safely(cb: () => void, log: Logger): void {
  try {
    cb();
  } catch (e) {
    log.error(`bug: close callback threw: ${(e as Error).stack ?? e}`);
  }
}
