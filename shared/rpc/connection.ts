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
  private nextId = 1;
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
    const ws = new WebSocket(opts.url, { maxPayload: FRAME_BYTES_MAX, perMessageDeflate: false, handshakeTimeout: opts.connectTimeoutMs ?? 5000 });
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
    const id = this.nextId++;
    return new Promise<OpResults[O]>((resolve, reject) => {
      const p: Pending = { resolve: resolve as (v: unknown) => void, reject };
      if (opts.timeoutMs !== undefined) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new RpcError('UNAVAILABLE', `${op} to ${this.opts.url} timed out after ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
      }
      this.pending.set(id, p);
      this.ws.send(encodeFrame({ id, op, args }), { binary: true }, (err) => {
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
