import WebSocket from 'ws';
import { FRAME_BYTES_MAX } from '../limits.js';
import { createLogger, type Logger } from '../log.js';
import type { OpArgs, OpName, OpResults } from '../protocol/ops.js';
import { decodeFrame, describeFrame, encodeFrame, ProtocolError } from '../wire/codec.js';
import { RpcError } from './rpc-error.js';

export interface ConnectionOptions {
  url: string;
  hello: OpArgs<'hello'>;
  connectTimeoutMs?: number; // default 5000
  onPush?: (push: string, data: unknown) => void;
  logger?: Logger;
}

/**
 * Request ids come from one counter per process, not per connection, so that one encoded request can
 * go to several connections unchanged (a block put to its R replicas: PreparedRequest).
 */
let nextRequestId = 1;

/**
 * A request encoded once, to be sent on several connections (RpcConnection.callPrepared): a 4 MiB
 * block put to 3 replicas is packed once instead of three times. The frame is never modified after
 * encoding, so the connections may hold it in their send queues at the same time.
 */
export class PreparedRequest<O extends OpName = OpName> {
  readonly id = nextRequestId++;
  readonly frame: Buffer;
  constructor(readonly op: O, readonly args: OpArgs<O>) {
    this.frame = encodeFrame({ id: this.id, op, args });
  }
}

/**
 * Masking (RFC 6455 §5.3) protects proxies from frames that script in a browser chose. Our clients are
 * our own processes, so the key is zero: ws then neither copies nor XORs the payload when sending, and
 * the receiving side skips unmasking (an all-zero key is a no-op). Frames still carry the mask bit,
 * as the RFC and ws's server require.
 */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

/**
 * One WebSocket to one node, with pipelined requests: many calls in flight, replies matched by id.
 * It never reconnects by itself; callers (client/rpc, the node's peer links) own that policy, because
 * what to retry depends on the operation.
 */
export class RpcConnection {
  private readonly pending = new Map<number, Pending>();
  private readonly closeHandlers: ((why: string) => void)[] = [];
  private closedWhy: string | null = null;
  helloReply!: OpResults['hello'];

  private constructor(private readonly ws: WebSocket, private readonly opts: ConnectionOptions, private readonly log: Logger) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', (code, reason) => this.fail(`connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    ws.on('error', (e) => this.fail(`connection error: ${e.message}`));
  }

  /** Opens the socket and completes the handshake; rejects with RpcError('UNAVAILABLE') if the node cannot be reached. */
  static async connect(opts: ConnectionOptions): Promise<RpcConnection> {
    const log = opts.logger ?? createLogger('rpc');
    const ws = new WebSocket(opts.url, { maxPayload: FRAME_BYTES_MAX, perMessageDeflate: false, handshakeTimeout: opts.connectTimeoutMs ?? 5000, generateMask: zeroMask });
    ws.binaryType = 'nodebuffer';
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: Error) => {
        ws.removeAllListeners();
        ws.on('error', () => {});
        ws.terminate();
        reject(new RpcError('UNAVAILABLE', `cannot reach ${opts.url}: ${e.message}`));
      };
      ws.once('open', () => {
        ws.off('error', onErr);
        resolve();
      });
      ws.once('error', onErr);
    });
    const conn = new RpcConnection(ws, opts, log);
    try {
      conn.helloReply = await conn.call('hello', opts.hello, { timeoutMs: opts.connectTimeoutMs ?? 5000 });
    } catch (e) {
      conn.close();
      throw e;
    }
    return conn;
  }

  get isOpen(): boolean {
    return this.closedWhy === null;
  }
  get url(): string {
    return this.opts.url;
  }
  /** Bytes queued in the socket; callers streaming blocks wait while this is high. */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  call<O extends OpName>(op: O, args: OpArgs<O>, opts: { timeoutMs?: number } = {}): Promise<OpResults[O]> {
    if (this.closedWhy !== null) return Promise.reject(new RpcError('UNAVAILABLE', `${this.opts.url}: ${this.closedWhy}`));
    const id = nextRequestId++;
    let frame: Buffer;
    try {
      frame = encodeFrame({ id, op, args });
    } catch (e) {
      return Promise.reject(e); // as before: a bad argument rejects the call, it does not throw
    }
    return this.send(id, op, frame, opts);
  }

  /**
   * Sends a request encoded earlier, perhaps also sent on other connections. If its id is still
   * pending here (the same request sent twice on one connection), it is encoded again under a fresh
   * id, so that each call gets its own reply. (After a timeout the id is no longer pending; a late
   * reply to the first send may then settle the second, which asked the same thing.)
   */
  callPrepared<O extends OpName>(req: PreparedRequest<O>, opts: { timeoutMs?: number } = {}): Promise<OpResults[O]> {
    if (this.pending.has(req.id)) return this.call(req.op, req.args, opts);
    if (this.closedWhy !== null) return Promise.reject(new RpcError('UNAVAILABLE', `${this.opts.url}: ${this.closedWhy}`));
    return this.send(req.id, req.op, req.frame, opts);
  }

  private send<O extends OpName>(id: number, op: O, frame: Buffer, opts: { timeoutMs?: number }): Promise<OpResults[O]> {
    return new Promise<OpResults[O]>((resolve, reject) => {
      const p: Pending = { resolve: resolve as (v: unknown) => void, reject };
      if (opts.timeoutMs !== undefined) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new RpcError('UNAVAILABLE', `${op} to ${this.opts.url} timed out after ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
      }
      this.pending.set(id, p);
      this.ws.send(frame, { binary: true }, (err) => {
        if (err) this.fail(`send failed: ${err.message}`);
      });
    });
  }

  /** One-way message (id 0): no reply, no delivery guarantee. Used for Raft traffic. */
  notify<O extends OpName>(op: O, args: OpArgs<O>): void {
    if (this.closedWhy !== null) return;
    this.ws.send(encodeFrame({ id: 0, op, args }), { binary: true }, (err) => {
      if (err) this.fail(`send failed: ${err.message}`);
    });
  }

  onClose(cb: (why: string) => void): void {
    if (this.closedWhy !== null) queueMicrotask(() => cb(this.closedWhy!));
    else this.closeHandlers.push(cb);
  }

  close(): void {
    this.fail('closed by this side');
    this.ws.close();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const f = isBinary ? decodeFrame(data) : new ProtocolError('NOT_AN_ENVELOPE', 'text frame');
    if (f instanceof ProtocolError) {
      this.log.warn(`${this.opts.url} sent an unreadable frame (${f.code}: ${f.message}); closing`);
      this.ws.terminate();
      return;
    }
    if ('push' in f) {
      this.opts.onPush?.(f.push, f.data);
      return;
    }
    if ('op' in f) {
      this.log.warn(`${this.opts.url} sent a request (${describeFrame(f)}) on a client connection; ignored`);
      return;
    }
    const p = this.pending.get(f.id);
    if (!p) return; // timed out earlier
    this.pending.delete(f.id);
    if (p.timer) clearTimeout(p.timer);
    if (f.ok) p.resolve(f.result);
    else p.reject(new RpcError(f.code, f.message, f.leader));
  }

  private fail(why: string): void {
    if (this.closedWhy !== null) return;
    this.closedWhy = why;
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new RpcError('UNAVAILABLE', `${this.opts.url}: ${why}`));
    }
    this.pending.clear();
    for (const cb of this.closeHandlers.splice(0)) cb(why);
  }
}
