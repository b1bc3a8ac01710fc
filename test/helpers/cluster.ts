import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../shared/log.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/handshake.js';
import type { NodeStatus, OpArgs, OpName, OpResults } from '../../shared/protocol/ops.js';
import { RpcConnection } from '../../shared/rpc/connection.js';
import { LinkProxy } from '../cluster/link-proxy.js';
import { ClusterClient } from '../cluster/cluster-client.js';
import { freePort } from './free-port.js';
import { NODE_HEAP_FLAGS } from '../../storagenode/heap-flags.js';
import { withMallocTunables } from '../../shared/malloc-tunables.js';

export { ClusterClient } from '../cluster/cluster-client.js';

/** The compiled node entry point, found relative to this file so tests run from any outDir. */
const distRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NODE_MAIN = join(distRoot, 'storagenode', 'main.js');
export const TEST_CLUSTER_ID = 'tidefs-test';

/** The part of a tap Test the helper needs. */
export interface TestLike {
  teardown(fn: () => unknown): void;
  passing?(): boolean;
  comment?(...args: unknown[]): void;
}

export interface StartClusterOptions {
  nodes?: number;
  snapshotEntries?: number;
  /** Log entries kept behind a compaction (the driver's default is 300); small values force snapshot installs. */
  snapshotKeepEntries?: number;
  env?: NodeJS.ProcessEnv;
  /** Route every peer link (from → to) through a LinkProxy, so partition() can cut links. */
  proxied?: boolean;
  /** Extra `tidefs node` flags for every node, e.g. ['--tick-ms', '20']. */
  nodeArgs?: string[];
  /** Wait for a leader before returning (default true). */
  waitForLeader?: boolean;
}

export interface TestNode {
  id: string;
  url: string; // clients connect here (the node's real port, never a proxy)
  port: number;
  pid: number;
  dataDir: string;
  logFile: string;
  proc: ChildProcess | null;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TestCluster {
  readonly urls: string[];
  /** Nodes started with addNode() run with --join (their membership comes from the leader). */
  private readonly joining = new Set<string>();
  private readonly proxies = new Map<string, LinkProxy>(); // `${from}>${to}`
  private stopped = false;

  constructor(readonly nodes: TestNode[], readonly rootDir: string, private readonly opts: StartClusterOptions) {
    this.urls = nodes.map((n) => n.url);
  }

  node(id: string): TestNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** @internal */
  async setupProxies(): Promise<void> {
    if (!this.opts.proxied) return;
    for (const from of this.nodes) {
      for (const to of this.nodes) {
        if (from !== to) this.proxies.set(`${from.id}>${to.id}`, await LinkProxy.start(to.port));
      }
    }
  }

  /** The --peers list node `self` is started with: its own URL, and proxies to the others if proxied. */
  private peersFor(self: TestNode): string {
    return this.nodes.map((n) => {
      const p = this.proxies.get(`${self.id}>${n.id}`);
      return `${n.id}=${p ? `ws://127.0.0.1:${p.port}` : n.url}`;
    }).join(',');
  }

  /** Starts (or restarts) a node process with the same id, port and data dir. */
  spawnNode(n: TestNode): void {
    const args = [NODE_MAIN, '--id', n.id, '--listen', `127.0.0.1:${n.port}`, '--data', n.dataDir, '--peers', this.peersFor(n),
      '--cluster', TEST_CLUSTER_ID, ...(this.opts.snapshotEntries ? ['--snapshot-entries', String(this.opts.snapshotEntries)] : []),
      ...(this.opts.snapshotKeepEntries ? ['--snapshot-keep-entries', String(this.opts.snapshotKeepEntries)] : []),
      ...(this.opts.nodeArgs ?? []), ...(this.joining.has(n.id) ? ['--join'] : [])];
    const fd = openSync(n.logFile, 'a');
    const proc = spawn(process.execPath, [...NODE_HEAP_FLAGS, ...args], { stdio: ['ignore', fd, fd], env: withMallocTunables({ ...process.env, ...this.opts.env }) });
    closeSync(fd);
    n.proc = proc;
    n.pid = proc.pid!;
    proc.on('exit', () => {
      if (n.proc === proc) n.proc = null;
    });
  }

  /**
   * Starts one more node process with --join (not yet a Raft member: `tidefs node add` or memberAdd
   * makes it one). Unproxied: its links go straight to the other nodes' ports.
   */
  async addNode(): Promise<TestNode> {
    const port = await freePort();
    const id = `n${this.nodes.length + 1}`;
    const n: TestNode = { id, url: `ws://127.0.0.1:${port}`, port, pid: 0, proc: null, dataDir: join(this.rootDir, id), logFile: join(this.rootDir, `${id}.log`) };
    this.nodes.push(n);
    this.urls.push(n.url);
    this.joining.add(id);
    this.spawnNode(n);
    await this.waitFor(async () => (await this.status(id).catch(() => null)) !== null, 15_000, `${id} to answer`);
    return n;
  }

  isRunning(id: string): boolean {
    const p = this.node(id).proc;
    return p !== null && p.exitCode === null && p.signalCode === null;
  }

  /** Sends a signal by PID and, for terminating signals, waits until the process is gone. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.node(id);
    const p = n.proc;
    if (!p || !this.isRunning(id)) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer); // a pending 10 s timer would keep the test process alive after the test
    if (this.isRunning(id)) {
      p.kill('SIGKILL');
      await exited;
    }
  }

  async restart(id: string): Promise<void> {
    await this.kill(id, 'SIGTERM');
    this.spawnNode(this.node(id));
    await this.waitFor(async () => (await this.status(id).catch(() => null)) !== null, 15_000, `${id} to answer after restart`);
  }

  pause(id: string): Promise<void> {
    return this.kill(id, 'SIGSTOP');
  }
  resume(id: string): Promise<void> {
    return this.kill(id, 'SIGCONT');
  }

  /** A connection to one node as an admin (status, localRead, membership). Caller closes it. */
  admin(id: string): Promise<RpcConnection> {
    return RpcConnection.connect({
      url: this.node(id).url, connectTimeoutMs: 2000, logger: silentLogger,
      hello: { protocol: PROTOCOL_VERSION, cluster: TEST_CLUSTER_ID, role: 'admin', client: 'test' },
    });
  }

  async call<O extends OpName>(id: string, op: O, args: OpArgs<O>, timeoutMs = 3000): Promise<OpResults[O]> {
    const c = await this.admin(id);
    try {
      return await c.call(op, args, { timeoutMs });
    } finally {
      c.close();
    }
  }

  status(id: string): Promise<NodeStatus> {
    return this.call(id, 'status', {}, 2000);
  }

  /**
   * The id of the leader, once a running node says it leads and no running node reports a higher
   * term (so a deposed leader that has not heard the news yet is not returned).
   */
  async leader(timeoutMs = 20_000): Promise<string> {
    let found = '';
    await this.waitFor(async () => {
      const sts = (await Promise.all(this.nodes.filter((n) => this.isRunning(n.id)).map((n) => this.status(n.id).catch(() => null))))
        .filter((s): s is NodeStatus => s !== null);
      const maxTerm = Math.max(0, ...sts.map((s) => s.term));
      const l = sts.find((s) => s.role === 'leader' && s.term === maxTerm);
      found = l?.node ?? '';
      return found !== '';
    }, timeoutMs, 'a leader');
    return found;
  }

  /** A client that follows NOT_LEADER redirects and retries while the cluster elects a leader. */
  async client(opts: { role?: 'client' | 'admin'; retryMs?: number; only?: string[] } = {}): Promise<ClusterClient> {
    const realUrl = new Map<string, string>();
    for (const [key, p] of this.proxies) realUrl.set(`ws://127.0.0.1:${p.port}`, this.node(key.split('>')[1]!).url);
    const urls = opts.only ? opts.only.map((id) => this.node(id).url) : this.urls;
    return new ClusterClient(urls, TEST_CLUSTER_ID, { role: opts.role ?? 'client', retryMs: opts.retryMs ?? 15_000, mapUrl: (u) => realUrl.get(u) ?? u });
  }

  /** Cuts every peer link between nodes of different groups (both directions); heal() restores them. */
  partition(groups: string[][]): void {
    if (!this.opts.proxied) throw new Error('partition() needs startCluster({ proxied: true })');
    const groupOf = new Map(groups.flatMap((g, i) => g.map((id) => [id, i] as const)));
    for (const [key, p] of this.proxies) {
      const [from, to] = key.split('>') as [string, string];
      if (groupOf.get(from) !== groupOf.get(to)) p.block();
      else p.unblock();
    }
  }
  heal(): void {
    for (const p of this.proxies.values()) p.unblock();
  }

  async waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await cond()) return;
      await sleep(50);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  logTail(id: string, lines = 30): string {
    const f = this.node(id).logFile;
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-lines).join('\n') : '(no log)';
  }

  /** Stops every node it started (SIGTERM, then SIGKILL), closes proxies and removes the data dirs. */
  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const n of this.nodes) if (n.proc && this.isRunning(n.id)) n.proc.kill('SIGCONT'); // a paused node cannot exit
    await Promise.all(this.nodes.map((n) => this.kill(n.id, 'SIGTERM')));
    for (const p of this.proxies.values()) await p.close();
    if (!opts.keepDir) rmSync(this.rootDir, { recursive: true, force: true });
  }
}

/**
 * Starts `nodes` real node processes on 127.0.0.1 with free ports and temp data dirs, and registers
 * a teardown that stops them by PID and removes the dirs even when the test fails (printing each
 * node's last log lines first if the test did not pass).
 */
export async function startCluster(t: TestLike, opts: StartClusterOptions = {}): Promise<TestCluster> {
  if (!existsSync(NODE_MAIN)) throw new Error(`${NODE_MAIN} is missing: compile first`);
  const count = opts.nodes ?? 3;
  const rootDir = mkdtempSync(join(tmpdir(), 'tidefs-cluster-'));
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const nodes: TestNode[] = ports.map((port, i) => ({
    id: `n${i + 1}`, url: `ws://127.0.0.1:${port}`, port, pid: 0, proc: null,
    dataDir: join(rootDir, `n${i + 1}`), logFile: join(rootDir, `n${i + 1}.log`),
  }));
  const cluster = new TestCluster(nodes, rootDir, opts);
  t.teardown(async () => {
    if (t.passing && !t.passing()) {
      for (const n of nodes) process.stderr.write(`--- last log lines of ${n.id} (${n.logFile}):\n${cluster.logTail(n.id)}\n`);
    }
    await cluster.stop({ keepDir: process.env.TIDEFS_KEEP_CLUSTER === '1' });
  });
  await cluster.setupProxies();
  for (const n of nodes) cluster.spawnNode(n);
  if (opts.waitForLeader ?? true) await cluster.leader(30_000);
  return cluster;
}
