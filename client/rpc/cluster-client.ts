import { createLogger, type Logger } from '../../shared/log.js';
import { LEASE_MS_DEFAULT } from '../../shared/limits.js';
import { RELEASES_MAX, type ChangedPush, type OpArgs, type OpName, type OpResults } from '../../shared/protocol/ops.js';
import { RpcError } from '../../shared/rpc/rpc-error.js';
import { BlockIo } from './block-io.js';
import { backoffMs, ConnPool, realClock, wsConnector, type Connector, type RpcClock } from './conn-pool.js';

export interface ClusterClientOptions {
  urls: string[];
  clientName: string;
  cluster?: string;
  logger?: Logger;
  connector?: Connector;
  clock?: RpcClock;
  /** How long a request keeps retrying through elections and restarts before the caller gets EIO. */
  retryMsMax?: number;
  /** Per attempt: a node that does not answer in this long is treated as unreachable. */
  callTimeoutMs?: number;
  leaseMs?: number;
}

/** Namespace changes: stamped with session + seq so a retried one is answered from the dedup table. */
const STAMPED = new Set<OpName>(['mknod', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename', 'setattr', 'setxattr', 'removexattr', 'commitWrite', 'compactChunk', 'lock', 'lockWait', 'lockCancel', 'open', 'release']);
/** Ops that carry the session (required by the schema). */
const SESSIONED = new Set<OpName>(['open', 'release', 'getlk']);
/** Ops that take the session's queued opens and closes along in `opens` and `releases` (storagenode/meta/ops/carried.ts). */
const CARRIERS = new Set<OpName>(['mknod', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename', 'setattr', 'commitWrite', 'open', 'release']);
/**
 * How long a close waits for a request to ride along with before it is sent alone (batched with the
 * others that queued meanwhile). A close only decides when an unlinked file is collected, so waiting
 * changes nothing a program can observe, except that the space of such a file is freed this much later.
 */
const RELEASE_DELAY_MS = 20;
/**
 * How long a queued read-only open waits for a request to ride along with, or for its own close, which
 * cancels both: most opens of small files end well within it and never reach the cluster. The
 * cluster keeps an unlinked file for far longer than this (--orphan-grace-ms), so the wait is safe.
 */
const OPEN_DELAY_MS = 1000;

/**
 * A close of an open file, or a read-only open that returned unregistered (`openRead`), queued until
 * a request carries it. `session` is the one the open was (or is to be) registered under.
 */
interface PendingHandle {
  kind: 'open' | 'release';
  ino: number;
  session: string;
  settle: () => void;
}
export type MetaOp = Exclude<OpName, 'hello' | 'blockPut' | 'blockGet' | 'blockHas' | 'raft' | 'sessionOpen' | 'sessionRenew' | 'sessionClose'>;
type SessionOp = 'sessionOpen' | 'sessionRenew' | 'sessionClose';
/** Args as the VFS passes them: the client adds session and seq itself. */
export type MetaArgs<O extends MetaOp> = Omit<OpArgs<O>, 'session' | 'seq'>;

const REDIRECTS_MAX = 5; // NOT_LEADER hops followed without a pause

/**
 * The client's view of the cluster: metadata requests go to the Raft leader (following NOT_LEADER
 * redirects), retried with backoff through elections and restarts for up to retryMsMax; blocks go
 * to their replicas (BlockIo). It also owns the session lease.
 */
export class ClusterClient {
  readonly pool: ConnPool;
  readonly blocks: BlockIo;
  readonly clock: RpcClock;
  readonly log: Logger;
  readonly retryMsMax: number;
  private readonly callTimeoutMs: number;
  private readonly leaseMsWanted: number;
  private seq = 0;
  private sessionId: string | null = null;
  private sessionOpening: Promise<string> | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private renewing = false;
  private closed = false;
  /** Called after a new session replaced an expired one (the VFS re-registers its open files). */
  onNewSession: (session: string) => void = () => {};
  /**
   * Node pushes (lockGranted, changed), from any connection. `changed` (ChangedPush) comes from the
   * leader, and is also emitted here with `all: true` when a node connection closes or one opens to
   * the leader (pushes sent while this client had no connection to the leader were missed); a
   * `changed` push whose data is malformed is turned into `all: true` as well.
   */
  onPush: (push: string, data: unknown) => void = () => {};
  /**
   * Whether a request refused with ESTALE may be retried under a new session. Lock ops never are (their
   * locks died with the old session), nor, via this hook, data commits to files the mount held locks on.
   */
  staleRetryAllowed: (op: string, args: Record<string, unknown>) => boolean = (op) => !op.startsWith('lock');
  /** When the current lease began: send time of the last successful sessionOpen/Renew (for fencing). */
  leaseStartMs = 0;
  leaseMsGranted = 0;
  /** Requests sent per op (blockPut counts each replica), for profiling: logged at unmount (docs/performance.md). */
  readonly counts = new Map<string, number>();
  private pending: PendingHandle[] = [];
  private releaseTimer: NodeJS.Timeout | null = null;
  private releaseDueMs = 0;

  constructor(private readonly opts: ClusterClientOptions) {
    this.log = opts.logger ?? createLogger('client rpc');
    this.clock = opts.clock ?? realClock;
    this.retryMsMax = opts.retryMsMax ?? 60_000;
    this.callTimeoutMs = opts.callTimeoutMs ?? 15_000;
    this.leaseMsWanted = opts.leaseMs ?? LEASE_MS_DEFAULT;
    this.pool = new ConnPool(opts.urls, this.watching(opts.connector ?? wsConnector(this.log)), opts.clientName, this.log, opts.cluster);
    this.blocks = new BlockIo(this.pool, this.clock, this.log, this.retryMsMax, this.callTimeoutMs);
  }

  /**
   * The connector the pool uses: pushes go to onPush, and `changed {all: true}` (ChangedPush) is
   * emitted when a connection closes, or opens to a node that says in hello that it leads: the
   * leader's pushes sent while this client had no connection to it were missed. (A node elected
   * later, while the connection is open, pushes `all` itself.)
   */
  private watching(base: Connector): Connector {
    return async (url, hello, _poolPush) => {
      const conn = await base(url, hello, (p, d) => this.routePush(url, p, d));
      conn.onClose(() => this.changedAll());
      if (leadsPerHello(conn.helloReply)) this.changedAll();
      return conn;
    };
  }

  private routePush(url: string, push: string, data: unknown): void {
    if (push === 'changed' && !isChangedPush(data)) {
      this.log.warn(`malformed changed push from ${url}: invalidating everything`);
      return this.changedAll();
    }
    this.emit(push, data);
  }

  private changedAll(): void {
    if (this.closed) return;
    const all: ChangedPush = { inos: [], entries: [], all: true };
    this.emit('changed', all);
  }

  private emit(push: string, data: unknown): void {
    try {
      this.onPush(push, data);
    } catch (e) {
      this.log.error(`bug: ${push} push handler threw: ${(e as Error)?.stack ?? e}`);
    }
  }

  /** Reaches some node (so membership is known) and opens the session. Rejects if no node answers in time. */
  async start(connectMsMax = this.retryMsMax): Promise<void> {
    const deadline = this.clock.nowMs() + connectMsMax;
    let lastErr: unknown;
    for (let attempt = 0; this.clock.nowMs() < deadline; attempt++) {
      for (const url of this.pool.knownUrls()) {
        try {
          await this.pool.get(url);
          await this.session();
          return;
        } catch (e) {
          lastErr = e;
        }
      }
      await this.clock.sleep(backoffMs(attempt));
    }
    throw new RpcError('UNAVAILABLE', `no node reachable at ${this.opts.urls.join(',')}: ${(lastErr as Error)?.message ?? 'timeout'}`);
  }

  get sessionOrNull(): string | null {
    return this.sessionId;
  }

  /** A metadata request, to the leader, retried until it succeeds, fails with an errno, or the deadline passes. */
  async meta<O extends MetaOp>(op: O, args: MetaArgs<O>): Promise<OpResults[O]> {
    // A close is queued and rides along with a later request (resolves once the cluster has it).
    if (op === 'release') return this.queueRelease((args as MetaArgs<'release'>).ino!) as Promise<OpResults[O]>;
    const full = { ...args } as Record<string, unknown>;
    this.count(op);
    if (STAMPED.has(op)) full.seq = ++this.seq;
    return this.attempts(op, full) as Promise<OpResults[O]>;
  }

  /**
   * A read-only open that returned without registering (`openRead`): a later request registers it, or
   * nothing does if it closes first. With no session there is nothing to do: the VFS re-registers its
   * handles under the next one (onNewSession).
   */
  openLater(ino: number): void {
    const session = this.sessionId;
    if (session !== null) this.enqueue({ kind: 'open', ino, session, settle: () => {} });
  }

  private queueRelease(ino: number): Promise<OpResults['release']> {
    const session = this.sessionId;
    if (session === null) return Promise.resolve({}); // no session: the opens died with the last one
    // The close of a handle whose open is still queued: neither needs to reach the cluster.
    const i = this.pending.findIndex((p) => p.kind === 'open' && p.ino === ino && p.session === session);
    if (i >= 0) {
      this.pending.splice(i, 1);
      this.count('releaseCancelled'); // neither it nor its open was sent
      return Promise.resolve({});
    }
    return new Promise((settle) => this.enqueue({ kind: 'release', ino, session, settle: () => settle({}) }));
  }

  private enqueue(p: PendingHandle): void {
    this.pending.push(p);
    if (this.pending.length >= RELEASES_MAX) return this.flushReleases();
    this.flushWithin(p.kind === 'open' ? OPEN_DELAY_MS : RELEASE_DELAY_MS);
  }

  /** Sends what is queued within `ms`, unless it is due sooner already. */
  private flushWithin(ms: number): void {
    const due = this.clock.nowMs() + ms;
    if (this.releaseTimer && this.releaseDueMs <= due) return;
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseDueMs = due;
    this.releaseTimer = setTimeout(() => this.flushReleases(), ms);
  }

  /** Sends the queued opens and closes that no request took along, as one `release` entry. */
  flushReleases(): void {
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    if (!this.pending.length) return;
    this.count('release');
    // What it carries (its own `ino` included) is taken at send time (carry).
    void this.attempts('release', { seq: ++this.seq }).catch((e: Error) => {
      this.log.warn(`release of queued closes failed: ${e.message}`);
    });
  }

  /**
   * Takes the queued opens and closes registered under `session` (at most `releasesMax` closes and
   * RELEASES_MAX opens); those of an older session are settled and dropped, since its opens ended
   * with it.
   */
  private takePending(session: string, releasesMax: number): PendingHandle[] {
    const taken: PendingHandle[] = [];
    const kept: PendingHandle[] = [];
    let releases = 0, opens = 0;
    for (const p of this.pending) {
      if (p.session !== session) p.settle();
      else if (p.kind === 'release' ? releases++ < releasesMax : opens++ < RELEASES_MAX) taken.push(p);
      else kept.push(p);
    }
    this.pending = kept;
    if (!kept.length && this.releaseTimer) {
      clearTimeout(this.releaseTimer);
      this.releaseTimer = null;
    }
    return taken;
  }

  /**
   * After the request that carried `rs` ended: applied, or (an errno from the state machine) rolled
   * back with its op, so queued again. An outcome never learned (gave up) drops them: a close applied
   * twice could end another handle's open, while one never applied only keeps an orphan until the
   * session ends (an open never registered leaves its file to the grace period, lifecycle.ts retire).
   */
  private carried(op: string, rs: PendingHandle[], e?: unknown): void {
    if (!rs.length) return;
    // A release of its own has nothing to fail on but its input: sending it again would only loop.
    if (op !== 'release' && e instanceof RpcError && /^E[A-Z]+$/.test(e.code) && e.code !== 'ESTALE') {
      this.pending.unshift(...rs);
      this.flushWithin(RELEASE_DELAY_MS);
      return;
    }
    for (const r of rs) r.settle();
  }

  private async attempts(op: MetaOp | SessionOp, full: Record<string, unknown>): Promise<unknown> {
    const deadline = this.clock.nowMs() + this.retryMsMax;
    let redirects = 0;
    const st = { staleRetried: false, session: '' }; // one retry under a new session per request
    let rs: PendingHandle[] | null = null; // opens and closes this request carries
    for (let attempt = 0; ; ) {
      if (STAMPED.has(op) || SESSIONED.has(op)) full.session = st.session = await this.session();
      rs = this.carry(op, full, st.session, rs);
      if (op === 'release' && rs.length === 0) return {}; // a flush whose closes all went with other requests
      const url = this.pool.metaTarget();
      try {
        const conn = await this.pool.get(url);
        const r = await conn.call(op, full as never, { timeoutMs: this.callTimeoutMs });
        this.carried(op, rs);
        return r;
      } catch (e) {
        const fail = (): never => {
          this.carried(op, rs ?? [], e);
          throw e;
        };
        if (e instanceof RpcError && (e.code === 'ESTALE' || e.code === 'STALE_SESSION') && !this.staleRetryAllowed(op, full)) fail();
        const next = this.classify(e, url, op, st);
        if (next === 'fail' || this.closed) fail();
        if (next === 'redirect' && ++redirects <= REDIRECTS_MAX) continue;
        if (this.clock.nowMs() >= deadline) {
          this.carried(op, rs ?? []);
          throw new RpcError('UNAVAILABLE', `${op} gave up after ${this.retryMsMax} ms: ${(e as Error).message}`);
        }
        redirects = 0;
        await this.clock.sleep(backoffMs(attempt++));
      }
    }
  }

  /**
   * Which queued opens and closes this attempt carries: taken on the first attempt of a carrier op; a
   * retry under a new session drops them (the old session's opens are gone). A `release` carries its
   * own first close as `ino`.
   */
  private carry(op: string, full: Record<string, unknown>, session: string, rs: PendingHandle[] | null): PendingHandle[] {
    if (rs === null) {
      if (!CARRIERS.has(op as OpName)) return [];
      const taken = this.takePending(session, op === 'release' ? RELEASES_MAX + 1 : RELEASES_MAX);
      const releases = taken.filter((r) => r.kind === 'release').map((r) => r.ino);
      const opens = taken.filter((r) => r.kind === 'open').map((r) => r.ino);
      if (op === 'release' && releases.length) full.ino = releases.shift();
      if (releases.length) full.releases = releases;
      if (opens.length) full.opens = opens;
      return taken;
    }
    if (rs.length && rs[0]!.session !== session) {
      for (const r of rs) r.settle();
      delete full.releases;
      delete full.opens;
      if (op !== 'release') return [];
      delete full.ino;
      return this.carry(op, full, session, null);
    }
    return rs;
  }

  /** What to do after a failed attempt: go to the named leader, wait and retry, or give the error to the caller. */
  private classify(e: unknown, url: string, op: string, st: { staleRetried: boolean; session: string }): 'redirect' | 'retry' | 'fail' {
    if (!(e instanceof RpcError)) return 'retry'; // a connect failure of the transport
    switch (e.code) {
      case 'NOT_LEADER': {
        const leader = e.leader ? this.pool.urlOf(e.leader) : null;
        this.pool.leaderUrl = leader && leader !== url ? leader : null;
        return this.pool.leaderUrl ? 'redirect' : 'retry';
      }
      case 'UNAVAILABLE':
        if (/timed out/.test(e.message)) this.pool.drop(url);
        else if (this.pool.leaderUrl === url) this.pool.leaderUrl = null;
        return 'retry';
      case 'TOO_BUSY':
        return 'retry';
      case 'ESTALE': // what the state machine answers for a session whose lease lapsed
      case 'STALE_SESSION':
        if (op.startsWith('session') || !(STAMPED.has(op as OpName) || SESSIONED.has(op as OpName)) || st.staleRetried) return 'fail';
        st.staleRetried = true;
        if (this.sessionId === st.session) {
          this.log.warn(`session ${st.session} expired on the cluster; opening a new one`);
          this.sessionId = null;
        }
        return 'redirect';
      default:
        return 'fail';
    }
  }

  /** The current session, opened (or re-opened after expiry) on demand. */
  session(): Promise<string> {
    if (this.sessionId) return Promise.resolve(this.sessionId);
    if (!this.sessionOpening) {
      const replacing = this.seq > 0 || this.renewTimer !== null;
      const sentAt = this.clock.nowMs();
      this.sessionOpening = this.attempts('sessionOpen', { client: this.opts.clientName, leaseMs: this.leaseMsWanted })
        .then((r) => {
          const s = r as OpResults['sessionOpen'];
          this.sessionId = s.session;
          this.leaseStartMs = sentAt;
          this.leaseMsGranted = s.leaseMs;
          this.scheduleRenew(s.leaseMs);
          this.log.info(`session ${s.session} opened (lease ${s.leaseMs} ms)`);
          if (replacing) this.onNewSession(s.session);
          return s.session;
        })
        .finally(() => { this.sessionOpening = null; });
    }
    return this.sessionOpening;
  }

  /** Renews every third of the lease (DESIGN.md invariant 5); a failed renewal opens a new session on next use. */
  private scheduleRenew(leaseMs: number): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = setInterval(() => {
      const s = this.sessionId;
      // One renewal at a time: a renewal retrying through an outage must not be joined by more each tick.
      if (!s || this.closed || this.renewing) return;
      const sentAt = this.clock.nowMs(); // the lease runs from no earlier than this on the leader
      this.renewing = true;
      this.attempts('sessionRenew', { session: s }).then(() => {
        if (this.sessionId === s) this.leaseStartMs = Math.max(this.leaseStartMs, sentAt);
      }, (e: Error) => {
        this.log.warn(`session ${s} renewal failed: ${e.message}`);
        if (e instanceof RpcError && (e.code === 'STALE_SESSION' || e.code === 'ESTALE') && this.sessionId === s) this.sessionId = null;
      }).finally(() => { this.renewing = false; });
    }, Math.max(100, Math.floor(leaseMs / 3)));
    this.renewTimer.unref();
  }

  count(op: string, n = 1): void {
    this.counts.set(op, (this.counts.get(op) ?? 0) + n);
  }

  /** One line: requests per op since the start, for the unmount log. */
  describeCounts(): string {
    return [...this.counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ');
  }

  putBlock(id: string, data: Uint8Array): Promise<void> {
    this.count('blockPut');
    this.count('blockPutBytes', data.byteLength);
    return this.blocks.putBlock(id, data);
  }
  getBlock(id: string, off: number, len: number, opts?: { missingFast?: boolean }): Promise<Uint8Array> {
    this.count('blockGet');
    this.count('blockGetBytes', len);
    return this.blocks.getBlock(id, off, len, opts);
  }

  async close(): Promise<void> {
    // Queued closes end with the session below; settle them so nobody waits on them.
    for (const r of this.takePending('', 0)) r.settle();
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
    const s = this.sessionId;
    if (s) {
      try {
        const conn = await this.pool.get(this.pool.metaTarget());
        await conn.call('sessionClose', { session: s }, { timeoutMs: 2000 });
      } catch (e) {
        this.log.debug(`session close: ${(e as Error).message}`); // the lease runs out by itself
      }
    }
    this.closed = true;
    this.pool.close();
  }
}

/** The shape of ChangedPush, checked before the VFS sees it (a node's bug must not become a client's). */
export function isChangedPush(d: unknown): d is ChangedPush {
  if (typeof d !== 'object' || d === null) return false;
  const { inos, entries, all } = d as Record<string, unknown>;
  if (!Array.isArray(inos) || !Array.isArray(entries) || (all !== undefined && all !== true)) return false;
  for (const i of inos) if (!Number.isSafeInteger(i) || (i as number) < 0) return false;
  for (const e of entries) {
    if (!Array.isArray(e) || e.length !== 2 || !Number.isSafeInteger(e[0]) || e[0] < 0 || typeof e[1] !== 'string') return false;
  }
  return true;
}

/** Whether the node that answered hello named itself as the leader (by id or by its member URL). */
function leadsPerHello(h: OpResults['hello'] | undefined): boolean {
  if (!h?.leader) return false;
  return h.leader === h.node || h.members?.some((m) => m.id === h.node && m.url === h.leader) === true;
}
