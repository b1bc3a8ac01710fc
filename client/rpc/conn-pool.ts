import type { Logger } from '../../shared/log.js';
import type { OpArgs, OpName, OpResults } from '../../shared/protocol/ops.js';
import { CLUSTER_ID_DEFAULT, PROTOCOL_VERSION } from '../../shared/protocol/handshake.js';
import { RpcConnection, type PreparedRequest } from '../../shared/rpc/connection.js';
import { REPLICAS_DEFAULT } from '../../shared/limits.js';
import type { NodeInfo } from '../../shared/types.js';

/** What the pool needs of a connection: RpcConnection, or a fake in unit tests. */
export interface RpcConn {
  readonly url: string;
  readonly isOpen: boolean;
  helloReply: OpResults['hello'];
  call<O extends OpName>(op: O, args: OpArgs<O>, opts?: { timeoutMs?: number }): Promise<OpResults[O]>;
  /** A request encoded once for several connections; fakes may leave it out (callers then use call). */
  callPrepared?<O extends OpName>(req: PreparedRequest<O>, opts?: { timeoutMs?: number }): Promise<OpResults[O]>;
  onClose(cb: (why: string) => void): void;
  close(): void;
}
export type Connector = (url: string, hello: OpArgs<'hello'>, onPush: (push: string, data: unknown) => void) => Promise<RpcConn>;

export const wsConnector = (log: Logger): Connector => (url, hello, onPush) =>
  RpcConnection.connect({ url, hello, onPush, logger: log, connectTimeoutMs: 5000 });

/** Time as the RPC layer sees it; injected so unit tests need not wait on real backoffs. */
export interface RpcClock {
  nowMs(): number;
  sleep(ms: number): Promise<void>;
}
export const realClock: RpcClock = {
  nowMs: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * One connection per node URL, opened on first use and re-opened after it closes. It also keeps
 * the membership and replica count the nodes announce in `hello`, and the leader we last heard of.
 */
export class ConnPool {
  private readonly conns = new Map<string, Promise<RpcConn>>();
  private seeds: string[];
  members: NodeInfo[] = [];
  replicas = REPLICAS_DEFAULT;
  leaderUrl: string | null = null;
  private rotation = 0;
  private closed = false;
  /** Told when an open connection closes (lock waiters re-register elsewhere). */
  onConnClose: (url: string) => void = () => {};

  constructor(
    seeds: string[],
    private readonly connector: Connector,
    private readonly clientName: string,
    private readonly log: Logger,
    private readonly cluster = CLUSTER_ID_DEFAULT,
    private readonly onPush: (push: string, data: unknown) => void = () => {},
  ) {
    this.seeds = [...new Set(seeds)];
  }

  /** Every URL we know: the seeds given on the command line and the announced members. */
  knownUrls(): string[] {
    return [...new Set([...this.seeds, ...this.members.map((m) => m.url)])];
  }

  /** The node to send metadata to next: the known leader, else the next URL in turn. */
  metaTarget(): string {
    if (this.leaderUrl) return this.leaderUrl;
    const urls = this.knownUrls();
    return urls[this.rotation++ % urls.length];
  }

  get(url: string): Promise<RpcConn> {
    if (this.closed) return Promise.reject(new Error('client closed'));
    const existing = this.conns.get(url);
    if (existing) return existing;
    const p = this.open(url);
    this.conns.set(url, p);
    // A failed connect is forgotten at once so that the next call tries again.
    p.catch(() => { if (this.conns.get(url) === p) this.conns.delete(url); });
    return p;
  }

  private async open(url: string): Promise<RpcConn> {
    const hello: OpArgs<'hello'> = { protocol: PROTOCOL_VERSION, cluster: this.cluster, role: 'client', client: this.clientName };
    const conn = await this.connector(url, hello, this.onPush);
    conn.onClose((why) => {
      this.log.debug(`connection to ${url} closed: ${why}`);
      this.onConnClose(url);
      if (this.conns.get(url) && this.leaderUrl === url) this.leaderUrl = null;
      this.conns.delete(url);
    });
    this.learn(conn.helloReply, url);
    return conn;
  }

  /** Takes membership, replica count and leader from a hello reply. */
  learn(h: OpResults['hello'], fromUrl: string): void {
    if (h.members?.length) this.members = h.members;
    if (h.replicas > 0) this.replicas = h.replicas;
    if (h.leader) this.leaderUrl = this.urlOf(h.leader) ?? this.leaderUrl;
    this.log.debug(`hello from ${fromUrl}: node ${h.node}, leader ${h.leader ?? '?'}, ${this.members.length} members, R=${this.replicas}`);
  }

  /** A leader may be named by URL or by node id; both are accepted. */
  urlOf(leader: string): string | null {
    if (/^wss?:\/\//.test(leader)) return leader;
    return this.members.find((m) => m.id === leader)?.url ?? null;
  }

  /** Forgets a connection that misbehaved (timeout), so the next call reconnects. */
  drop(url: string): void {
    const p = this.conns.get(url);
    this.conns.delete(url);
    if (this.leaderUrl === url) this.leaderUrl = null;
    p?.then((c) => c.close(), () => {});
  }

  close(): void {
    this.closed = true;
    for (const p of this.conns.values()) p.then((c) => c.close(), () => {});
    this.conns.clear();
  }
}

const BACKOFF_MS_MIN = 20;
const BACKOFF_MS_MAX = 1000;
/** Exponential with jitter, so many clients retrying after an election do not stampede the new leader. */
export function backoffMs(attempt: number): number {
  const base = Math.min(BACKOFF_MS_MAX, BACKOFF_MS_MIN * 2 ** attempt);
  return base / 2 + (base / 2) * Math.random();
}
