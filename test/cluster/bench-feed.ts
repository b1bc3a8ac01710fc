// What the `changed` push (storagenode/rpc/change-feed.ts) costs the metadata path: creates/s through
// a fresh 3-node cluster (as bench-meta, but stamped with a session like a real client), with no
// other client connected, then with one extra listening client (client/rpc), alternating.
// Prints `metric value unit`. BENCH_SECONDS (default 3), BENCH_CONCURRENCY (default 1,16), BENCH_ROUNDS (default 2).
// Run: flock /tmp/tidefs-bench.lock node dist-X/test/cluster/bench-feed.js
import { readFileSync } from 'node:fs';
import { silentLogger } from '../../shared/log.js';
import { ROOT_CRED, S_IFREG } from '../../shared/types.js';
import { ClusterClient as RealClient } from '../../client/rpc/cluster-client.js';
import { startCluster, TEST_CLUSTER_ID } from '../helpers/cluster.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const levels = (process.env.BENCH_CONCURRENCY ?? '1,16').split(',').map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);

function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    ticks += Number(rest[11]) + Number(rest[12]);
  }
  return ticks * 10;
}

async function main(): Promise<void> {
  const teardowns: (() => unknown)[] = [];
  try {
    const cluster = await startCluster({ teardown: (fn) => teardowns.push(fn) }, { nodes: 3 });
    const pids = cluster.nodes.map((n) => n.pid);
    const client = await cluster.client();
    const { session } = await client.call('sessionOpen', { client: 'bench-feed', leaseMs: 60_000 });
    let seq = 0;
    let dirs = 0;
    const run = async (c: number, label: string) => {
      await client.call('sessionRenew', { session });
      const dir = await client.call('mkdir', { parent: 1, name: `d${dirs++}`, mode: 0o755, cred: ROOT_CRED, session, seq: ++seq });
      let n = 0, next = 0;
      const end = Date.now() + seconds * 1000;
      const cpu0 = cpuMs(pids);
      const t0 = process.hrtime.bigint();
      await Promise.all(Array.from({ length: c }, async () => {
        while (Date.now() < end) {
          await client.call('mknod', { parent: dir.ino, name: `f${next++}`, mode: S_IFREG | 0o644, rdev: 0, cred: ROOT_CRED, session, seq: ++seq });
          n++;
        }
      }));
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(`feed.create.${label}.concurrency_${c} ${(n / s).toFixed(0)} ops/s`);
      console.log(`feed.create.${label}.concurrency_${c}.node_cpu ${((cpuMs(pids) - cpu0) / n).toFixed(3)} ms/op`);
    };
    for (let r = 0; r < rounds; r++) {
      for (const c of levels) await run(c, 'none');
      const listener = new RealClient({ urls: cluster.urls, clientName: 'listener', cluster: TEST_CLUSTER_ID, logger: silentLogger });
      let pushes = 0, inos = 0, alls = 0;
      listener.onPush = (p, d) => {
        if (p !== 'changed') return;
        const ch = d as { inos: number[]; all?: boolean };
        pushes++;
        inos += ch.inos.length;
        if (ch.all) alls++;
      };
      await listener.start();
      for (const c of levels) await run(c, 'listener');
      console.error(`bench-feed: round ${r}: the listener got ${pushes} pushes, ${inos} inos, ${alls} all`);
      await listener.close();
    }
    client.close();
  } finally {
    for (const fn of teardowns.splice(0).reverse()) await fn();
  }
}

main().catch((e) => {
  console.error(`bench-feed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
