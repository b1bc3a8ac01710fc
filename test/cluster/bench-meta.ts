// Metadata operations per second through a fresh 3-node cluster via the RPC API (no FUSE).
// Run by scripts/bench-meta; prints lines `metric value unit`.
import { readFileSync, writeFileSync } from 'node:fs';
import { ROOT_CRED, S_IFREG } from '../../shared/types.js';
import { startCluster } from '../helpers/cluster.js';
import type { ClusterClient } from './cluster-client.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const traceDir = process.env.TIDEFS_RAFT_TRACE;
const clientTrace: string[] = [];
const levels = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number);

/** Runs `op` from `concurrency` loops over one pipelined connection for `seconds`; returns ops/s. */
async function measure(concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let n = 0;
  let next = 0;
  const end = Date.now() + seconds * 1000;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      const t0 = performance.timeOrigin + performance.now();
      await op(next++);
      if (traceDir && concurrency === 1) clientTrace.push(`${(t0 * 1000).toFixed(0)} ${((performance.timeOrigin + performance.now()) * 1000).toFixed(0)}`);
      n++;
    }
  }));
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  return n / s;
}

/** CPU time (user + system, ms) the given processes have used so far, from /proc. */
function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    ticks += Number(rest[11]) + Number(rest[12]); // utime, stime (fields 14 and 15)
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

async function bench(client: ClusterClient, pids: number[], print: (m: string, v: number, unit: string) => void): Promise<void> {
  const idle0 = cpuMs(pids);
  await new Promise((r) => setTimeout(r, 1000));
  print('meta.idle.node_cpu', (cpuMs(pids) - idle0) / 1000, 'ms/ms');
  for (const c of levels) {
    const dir = await client.call('mkdir', { parent: 1, name: `create-c${c}`, mode: 0o755, cred: ROOT_CRED });
    let ops = 0;
    const cpu0 = cpuMs(pids);
    const rate = await measure(c, (i) => {
      ops++;
      return client.call('mknod', { parent: dir.ino, name: `f${i}`, mode: S_IFREG | 0o644, rdev: 0, cred: ROOT_CRED });
    });
    print(`meta.create.concurrency_${c}`, rate, 'ops/s');
    // Load-independent: the three nodes' CPU per create (the machine is shared; rates are not).
    print(`meta.create.concurrency_${c}.node_cpu`, (cpuMs(pids) - cpu0) / ops, 'ms/op');
    if (traceDir && c === 1) writeFileSync(`${traceDir}/client.trace`, clientTrace.splice(0).join('\n') + '\n');
  }
  const f = await client.call('mknod', { parent: 1, name: 'stat-me', mode: S_IFREG | 0o644, rdev: 0, cred: ROOT_CRED });
  for (const c of levels) print(`meta.getattr.concurrency_${c}`, await measure(c, () => client.call('getattr', { ino: f.ino })), 'ops/s');
  for (const c of levels) print(`meta.lookup.concurrency_${c}`, await measure(c, () => client.call('lookup', { parent: 1, name: 'stat-me' })), 'ops/s');
}

async function main(): Promise<void> {
  const teardowns: (() => unknown)[] = [];
  const fakeT = { teardown: (fn: () => unknown) => teardowns.push(fn) };
  const stopAll = async () => {
    for (const fn of teardowns.splice(0).reverse()) await fn();
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    const started = Date.now();
    const cluster = await startCluster(fakeT, { nodes: 3 });
    console.error(`bench-meta: 3-node cluster up in ${Date.now() - started} ms (${cluster.urls.join(', ')}); ${seconds} s per measurement`);
    const client = await cluster.client();
    await bench(client, cluster.nodes.map((n) => n.pid), (m, v, unit) => console.log(`${m} ${unit === 'ms/op' ? v.toFixed(3) : v.toFixed(0)} ${unit}`));
    client.close();
  } finally {
    await stopAll();
  }
}

main().catch((e) => {
  console.error(`bench-meta: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
