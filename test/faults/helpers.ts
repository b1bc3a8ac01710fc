import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NodeStatus } from '../../shared/protocol/ops.js';
import { TEST_CLUSTER_ID, type TestCluster } from '../helpers/cluster.js';

const distRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Runs the storage CLI (what bin/tidefs runs) from the compiled tree these tests come from; returns the
 * exit code and output. Through its .js module rather than bin/tidefs: the test runner's loader hooks,
 * which it injects into every child, cannot load bin/tidefs (an ES module without a .js name).
 */
export function tidefs(args: string[], timeoutMs = 180_000): { code: number; out: string } {
  const cli = pathToFileURL(join(distRoot, 'storagenode', 'cli.js')).href;
  const script = `const m = await import(${JSON.stringify(cli)}); process.exit(await m.main(JSON.parse(process.argv[1])));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([...args, '--cluster', TEST_CLUSTER_ID])], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Writers through a mount that remember what was acknowledged: a file counts once writeFile (open,
 * write, close = flush) resolved, with its checksum. Every I/O error the application sees is kept.
 */
export class Workload {
  readonly acked = new Map<string, string>(); // path → sha256
  readonly errors: string[] = [];
  readonly latencies: { atMs: number; ms: number }[] = [];
  bytes = 0;
  private stopped = false;
  private runs: Promise<void>[] = [];
  private n = 0;

  constructor(private readonly dir: string, private readonly sizeMax = 300_000) {}

  start(writers = 2): void {
    for (let w = 0; w < writers; w++) this.runs.push(this.loop(w));
  }

  private async loop(w: number): Promise<void> {
    while (!this.stopped) {
      const name = `w${w}-${this.n++}`;
      const data = randomBytes(1 + Math.floor(Math.random() * this.sizeMax));
      const t0 = Date.now();
      try {
        await writeFile(join(this.dir, name), data);
        this.acked.set(name, sha(data));
        this.bytes += data.length;
      } catch (e) {
        this.errors.push(`${name}: ${(e as Error).message}`);
      }
      this.latencies.push({ atMs: t0, ms: Date.now() - t0 });
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.runs);
  }

  /** The longest single file write+close that started in [fromMs, toMs]. */
  maxStallMs(fromMs: number, toMs: number): number {
    return Math.max(0, ...this.latencies.filter((l) => l.atMs >= fromMs && l.atMs <= toMs).map((l) => l.ms));
  }

  /** Reads every acknowledged file back; returns what does not match. */
  async verify(dir = this.dir): Promise<string[]> {
    const bad: string[] = [];
    for (const [name, want] of this.acked) {
      try {
        const got = sha(await readFile(join(dir, name)));
        if (got !== want) bad.push(`${name}: checksum differs`);
      } catch (e) {
        bad.push(`${name}: ${(e as Error).message}`);
      }
    }
    return bad;
  }
}

/** Waits until every running member finished a repair round, started after now, that found nothing under-replicated. */
export async function waitConverged(c: TestCluster, timeoutMs: number, ids = c.nodes.filter((n) => c.isRunning(n.id)).map((n) => n.id)): Promise<NodeStatus[]> {
  const since = Date.now();
  let last: NodeStatus[] = [];
  await c.waitFor(async () => {
    last = await Promise.all(ids.map((id) => c.status(id).catch(() => null))).then((a) => a.filter((s): s is NodeStatus => s !== null));
    return last.length === ids.length && last.every((s) => {
      const r = s.repair?.last;
      return r && r.done && r.startedAtMs > since && r.underReplicated === 0 && r.missing === 0;
    });
  }, timeoutMs, `a clean repair round on ${ids.join(', ')}`);
  return last;
}

/** Polls the live nodes until one leads at a term above `oldTerm`. */
export async function awaitNewLeader(c: TestCluster, oldTerm: number, timeoutMs: number): Promise<string> {
  let found = '';
  await c.waitFor(async () => {
    for (const n of c.nodes) {
      if (!c.isRunning(n.id)) continue;
      const s = await c.status(n.id).catch(() => null);
      if (s && s.role === 'leader' && s.term > oldTerm) found = s.node;
    }
    return found !== '';
  }, timeoutMs, 'a new leader');
  return found;
}

export const FAST_REPAIR = ['--repair-every-ms', '1000', '--scrub-every-ms', '3600000'];
