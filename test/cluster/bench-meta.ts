// Metadata operations per second through a fresh 3-node cluster via the RPC API (no FUSE).
// Run by scripts/bench-meta; prints lines `metric value unit`.
import { ROOT_CRED, S_IFREG } from '../../shared/types.js';
import { startCluster } from '../helpers/cluster.js';
import type { ClusterClient } from './cluster-client.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const levels = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number);

/** Runs `op` from `concurrency` loops over one pipelined connection for `seconds`; returns ops/s. */
async function measure(concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let n = 0;
  let next = 0;
  const end = Date.now() + seconds * 1000;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      await op(next++);
      n++;
    }
  }));
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  return n / s;
}

async function bench(client: ClusterClient, print: (m: string, v: number, unit: string) => void): Promise<void> {
  for (const c of levels) {
    const dir = await client.call('mkdir', { parent: 1, name: `create-c${c}`, mode: 0o755, cred: ROOT_CRED });
    const rate = await measure(c, (i) => client.call('mknod', { parent: dir.ino, name: `f${i}`, mode: S_IFREG | 0o644, rdev: 0, cred: ROOT_CRED }));
    print(`meta.create.concurrency_${c}`, rate, 'ops/s');
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
    await bench(client, (m, v, unit) => console.log(`${m} ${v.toFixed(0)} ${unit}`));
    client.close();
  } finally {
    await stopAll();
  }
}

main().catch((e) => {
  console.error(`bench-meta: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
