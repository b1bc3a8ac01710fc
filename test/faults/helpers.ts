import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NodeStatus } from '../../shared/protocol/ops.js';
import { TEST_CLUSTER_ID, type TestCluster } from '../helpers/cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
const distRoot = resolve(here, '..', '..');

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

/**
 * Writers through a mount that remember what was acknowledged: a file counts once writeFile (open,
 * write, close = flush) resolved, with its checksum. Every I/O error the application sees is kept.
 * The writers run in a child process (workload-writer.ts says why: the test process must hold no
 * file of the mount open while it forks nodes and carries the proxied peer links).
 */
export class Workload {
  readonly acked = new Map<string, string>(); // path → sha256
  readonly errors: string[] = [];
  readonly latencies: { atMs: number; ms: number }[] = [];
  bytes = 0;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string, private readonly sizeMax = 300_000) {}

  start(writers = 2): void {
    const child = spawn(process.execPath, [join(here, 'workload-writer.js'), this.dir, String(this.sizeMax), String(writers)],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    child.on('message', (m: { name: string; sha?: string; bytes?: number; error?: string; atMs: number; ms: number }) => {
      if (m.error !== undefined) this.errors.push(`${m.name}: ${m.error}`);
      else {
        this.acked.set(m.name, m.sha!);
        this.bytes += m.bytes!;
      }
      this.latencies.push({ atMs: m.atMs, ms: m.ms });
    });
    child.unref(); // a failed test must not hang on it; it exits when this process goes (IPC disconnect)
    (child.channel as { unref?(): void } | undefined)?.unref?.();
  }

  /** Lets the writers finish the file they are on, then waits for the process to end. */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c) return;
    if (c.connected) c.send('stop');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, 180_000)))]);
    clearTimeout(timer);
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL'); // by PID: only the writer this Workload started
      await this.exited;
    }
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
