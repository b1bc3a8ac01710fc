import { RpcError } from '../../shared/rpc/rpc-error.js';
import type { DirEntry } from '../../shared/types.js';
import { ROOT_CRED, S_IFREG } from '../../shared/types.js';
import type { ClusterClient } from './cluster-client.js';
import type { TestCluster } from '../helpers/cluster.js';

/** What the cluster acknowledged: a directory per group, its one file's final name and mode. */
export interface Acked {
  dir: string;
  file: 'f' | 'g' | null;
  mode: number | null; // permission bits set by setattr, if acknowledged
}

/**
 * Metadata operations in groups of four (mkdir, mknod, setattr, rename), from `workers` concurrent
 * workers, each op with a session and sequence number so a retry after a failover is answered from
 * the state machine's dedup table instead of being applied twice. Only acknowledged ops enter the
 * model; a group whose op failed for good is abandoned (its earlier acks stay in the model).
 */
export class MetaStream {
  readonly acked = new Map<string, Acked>();
  ops = 0;
  failures: string[] = [];
  private seq = 1;
  private stopFlag = false;

  constructor(private readonly client: ClusterClient, private readonly session: string, private readonly prefix: string) {}

  static async open(client: ClusterClient, prefix: string): Promise<MetaStream> {
    const s = await client.call('sessionOpen', { client: `stream-${prefix}`, leaseMs: 600_000 });
    return new MetaStream(client, s.session, prefix);
  }

  stop(): void {
    this.stopFlag = true;
  }

  private async group(name: string): Promise<void> {
    const c = this.client;
    const base = { cred: ROOT_CRED, session: this.session };
    const dir = await c.call('mkdir', { parent: 1, name, mode: 0o755, ...base, seq: this.seq++ });
    const a: Acked = { dir: name, file: null, mode: null };
    this.acked.set(name, a);
    this.ops++;
    const f = await c.call('mknod', { parent: dir.ino, name: 'f', mode: S_IFREG | 0o644, rdev: 0, ...base, seq: this.seq++ });
    a.file = 'f';
    this.ops++;
    await c.call('setattr', { ino: f.ino, mode: 0o600, ...base, seq: this.seq++ });
    a.mode = 0o600;
    this.ops++;
    await c.call('rename', { parent: dir.ino, name: 'f', newParent: dir.ino, newName: 'g', flags: 0, ...base, seq: this.seq++ });
    a.file = 'g';
    this.ops++;
  }

  /** Runs until `untilOps` ops are acknowledged (and stop() was called if `needStop`). */
  async run(workers: number, untilOps: number, opts: { needStop?: boolean } = {}): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (this.ops < untilOps || (opts.needStop && !this.stopFlag)) {
        const name = `${this.prefix}${next++}`;
        try {
          await this.group(name);
        } catch (e) {
          this.failures.push(`${name}: ${e instanceof RpcError ? e.message : String(e)}`);
          if (this.failures.length > 20) throw new Error(`too many failed ops: ${this.failures.slice(-3).join('; ')}`);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
  }
}

type Reader = (op: 'lookup' | 'readdir', args: Record<string, unknown>) => Promise<{ ok: true; value: unknown } | { ok: false; errno: string }>;

/** Reads through the leader (linearizable reads) as FsResult values. */
export function leaderReader(client: ClusterClient): Reader {
  return async (op, args) => {
    try {
      return { ok: true, value: await client.call(op, args as never) };
    } catch (e) {
      if (e instanceof RpcError) return { ok: false, errno: e.code };
      throw e;
    }
  };
}

/** Reads one node's own replica (localRead, no read barrier). */
export function replicaReader(cluster: TestCluster, id: string): Reader {
  return async (op, args) => (await cluster.call(id, 'localRead', { op, args }, 5000)) as never;
}

export async function readdirAll(read: Reader, ino: number): Promise<DirEntry[]> {
  const out: DirEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const r = await read('readdir', { ino, ...(after ? { after } : {}), limit: 1024 });
    if (!r.ok) throw new Error(`readdir ${ino}: ${r.errno}`);
    const v = r.value as { entries: DirEntry[]; more: boolean };
    out.push(...v.entries);
    if (!v.more || !v.entries.length) return out;
    after = v.entries[v.entries.length - 1]!.name;
  }
}

/** Every acknowledged op is visible through `read`; returns the problems found (empty = all there). */
export async function checkAcked(read: Reader, acked: Iterable<Acked>): Promise<string[]> {
  const problems: string[] = [];
  for (const a of acked) {
    const d = await read('lookup', { parent: 1, name: a.dir });
    if (!d.ok) {
      problems.push(`${a.dir}: ${d.errno}`);
      continue;
    }
    if (!a.file) continue;
    const f = await read('lookup', { parent: (d.value as { ino: number }).ino, name: a.file });
    if (!f.ok) problems.push(`${a.dir}/${a.file}: ${f.errno}`);
    else if (a.mode !== null && ((f.value as { mode: number }).mode & 0o7777) !== a.mode) problems.push(`${a.dir}/${a.file}: mode ${(f.value as { mode: number }).mode.toString(8)}`);
  }
  return problems;
}

/** Waits until node `id` has applied everything the leader had committed when this was called. */
export async function waitCaughtUp(cluster: TestCluster, id: string, leaderId: string, timeoutMs = 20_000): Promise<void> {
  const target = (await cluster.status(leaderId)).commitIndex;
  await cluster.waitFor(async () => ((await cluster.status(id).catch(() => null))?.appliedIndex ?? 0) >= target, timeoutMs, `${id} to apply up to ${target}`);
}
