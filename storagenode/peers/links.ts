import { RpcError } from '../../shared/rpc/rpc-error.js';
import { RpcConnection } from '../../shared/rpc/connection.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/handshake.js';
import type { OpArgs, OpName, OpResults } from '../../shared/protocol/ops.js';
import type { NodeInfo } from '../../shared/types.js';

export interface PeerLinksOptions {
  selfId: string;
  cluster: string;
  logger?: Logger;
  backoffMsMin?: number; // first retry after a failed connect
  backoffMsMax?: number;
  /** Injected so tests can count or refuse connections; defaults to RpcConnection.connect. */
  connect?: (url: string, hello: OpArgs<'hello'>) => Promise<RpcConnection>;
}

/**
 * One connection per peer, role 'peer', re-established with exponential backoff. Raft messages ride
 * on it as one-way frames: a message sent while the link is down is dropped, which Raft tolerates
 * (it retries appends and elections on its own timers), so sends never queue without bound.
 */
class Link {
  conn: RpcConnection | null = null;
  private connecting = false;
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private downSinceMs: number | null = null;
  private warned = false;

  constructor(readonly peer: NodeInfo, private readonly o: Required<Omit<PeerLinksOptions, 'logger'>> & { log: Logger }) {
    this.backoffMs = o.backoffMsMin;
  }

  get up(): boolean {
    return this.conn?.isOpen === true;
  }

  ensure(): void {
    if (this.closed || this.up || this.connecting || this.retryTimer) return;
    this.connecting = true;
    const hello = { protocol: PROTOCOL_VERSION, cluster: this.o.cluster, role: 'peer' as const, node: this.o.selfId };
    this.o.connect(this.peer.url, hello).then((conn) => {
      this.connecting = false;
      if (this.closed) return conn.close();
      this.conn = conn;
      this.backoffMs = this.o.backoffMsMin;
      if (this.warned) this.o.log.info(`link to ${this.peer.id} (${this.peer.url}) is up again`);
      this.downSinceMs = null;
      this.warned = false;
      conn.onClose((why) => {
        if (this.conn === conn) this.conn = null;
        if (!this.closed) this.o.log.debug(`link to ${this.peer.id} lost: ${why}`);
        this.ensure();
      });
    }, (e: Error) => {
      this.connecting = false;
      this.downSinceMs ??= Date.now();
      // One warning per outage, after it has lasted a while: a peer that is restarting is normal.
      if (!this.warned && Date.now() - this.downSinceMs > 5000) {
        this.warned = true;
        this.o.log.warn(`cannot reach ${this.peer.id} at ${this.peer.url} (${e.message}); retrying`);
      }
      this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.o.backoffMsMax, this.backoffMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.ensure();
    }, wait);
    this.retryTimer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.conn?.close();
    this.conn = null;
  }
}

export class PeerLinks {
  private readonly links = new Map<string, Link>();
  private readonly o: Required<Omit<PeerLinksOptions, 'logger'>> & { log: Logger };

  constructor(opts: PeerLinksOptions) {
    this.o = {
      selfId: opts.selfId, cluster: opts.cluster, log: opts.logger ?? silentLogger,
      backoffMsMin: opts.backoffMsMin ?? 50, backoffMsMax: opts.backoffMsMax ?? 1000,
      connect: opts.connect ?? ((url, hello) => RpcConnection.connect({ url, hello, connectTimeoutMs: 2000, logger: opts.logger ?? silentLogger })),
    };
  }

  /** Keeps one link per member other than this node; links to removed members are closed. */
  setMembers(members: readonly NodeInfo[]): void {
    const want = new Map(members.filter((m) => m.id !== this.o.selfId).map((m) => [m.id, m]));
    for (const [id, link] of this.links) {
      const m = want.get(id);
      if (!m || m.url !== link.peer.url) {
        link.close();
        this.links.delete(id);
      }
    }
    for (const [id, m] of want) {
      if (this.links.has(id)) continue;
      const link = new Link(m, this.o);
      this.links.set(id, link);
      link.ensure();
    }
  }

  /** Fire and forget; dropped while the link is down. */
  sendRaft(to: string, msg: unknown): void {
    const link = this.links.get(to);
    if (!link) return;
    if (link.up) link.conn!.notify('raft', { msg });
    else link.ensure();
  }

  async call<O extends OpName>(to: string, op: O, args: OpArgs<O>, timeoutMs = 2000): Promise<OpResults[O]> {
    const link = this.links.get(to);
    if (!link?.up) {
      link?.ensure();
      throw new RpcError('UNAVAILABLE', `no link to ${to}`);
    }
    return link.conn!.call(op, args, { timeoutMs });
  }

  isUp(id: string): boolean {
    return this.links.get(id)?.up === true;
  }

  close(): void {
    for (const l of this.links.values()) l.close();
    this.links.clear();
  }
}
