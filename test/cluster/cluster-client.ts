import { silentLogger } from '../../shared/log.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/handshake.js';
import type { OpArgs, OpName, OpResults } from '../../shared/protocol/ops.js';
import { RpcConnection } from '../../shared/rpc/connection.js';
import { RpcError } from '../../shared/rpc/rpc-error.js';

export interface ClusterClientOptions {
  role: 'client' | 'admin';
  /** How long one call keeps retrying while there is no leader or the leader is unreachable. */
  retryMs: number;
  /** Turns a URL a node advertises (maybe a test proxy) into one the test process can reach. */
  mapUrl?: (url: string) => string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A test client of a whole cluster: keeps one connection to the node it believes leads, follows
 * NOT_LEADER redirects, and retries UNAVAILABLE (no quorum yet, connection lost) until retryMs pass.
 * File-system errors (ENOENT, ...) are returned to the caller as RpcError at once.
 *
 * A write retried after a lost connection may have been applied already; tests that count on
 * exactly-once pass `seq` (the state machine's dedup) or check for EEXIST.
 */
export class ClusterClient {
  private conn: RpcConnection | null = null;
  private preferred = 0;
  /** Calls that had to be retried (redirects, reconnects): tests print it. */
  retries = 0;

  constructor(readonly urls: string[], private readonly cluster: string, private readonly opts: ClusterClientOptions) {}

  private async connectTo(url: string): Promise<RpcConnection> {
    return RpcConnection.connect({
      url, connectTimeoutMs: 1000, logger: silentLogger,
      hello: { protocol: PROTOCOL_VERSION, cluster: this.cluster, role: this.opts.role, client: 'test-cluster-client' },
    });
  }

  private async ensure(hint?: string): Promise<RpcConnection> {
    if (hint) {
      this.conn?.close();
      this.conn = await this.connectTo(hint);
      return this.conn;
    }
    if (this.conn?.isOpen) return this.conn;
    const url = this.urls[this.preferred % this.urls.length]!;
    this.conn = await this.connectTo(url);
    return this.conn;
  }

  async call<O extends OpName>(op: O, args: OpArgs<O>, timeoutMs = 5000): Promise<OpResults[O]> {
    const deadline = Date.now() + this.opts.retryMs;
    let hint: string | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        const h = hint;
        hint = undefined;
        const c = await this.ensure(h);
        return await c.call(op, args, { timeoutMs });
      } catch (e) {
        if (!(e instanceof RpcError) || !['NOT_LEADER', 'UNAVAILABLE', 'TOO_BUSY'].includes(e.code)) throw e;
        if (Date.now() > deadline) throw e;
        this.retries++;
        if (e.code === 'NOT_LEADER' && e.leader) hint = this.opts.mapUrl?.(e.leader) ?? e.leader;
        else {
          this.conn?.close();
          this.conn = null;
          this.preferred++;
          await sleep(Math.min(200, 20 * (attempt + 1)));
        }
      }
    }
  }

  close(): void {
    this.conn?.close();
    this.conn = null;
  }
}
