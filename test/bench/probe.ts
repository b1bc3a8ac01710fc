import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mount, removeClusters, startCluster, stopAll } from './processes.js';

/**
 * Profiling harness (docs/performance.md, client section): starts 3 nodes and one mount, prints the
 * mountpoint and log paths, and stays up until SIGINT/SIGTERM, so workloads can be run by hand against
 * it. Client env comes from PROBE_CLIENT_ENV (e.g. "TIDEFS_LOG=debug") and its node flags from PROBE_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"); the storage nodes' flags from PROBE_STORAGE_ARGS (e.g. "--trace-gc").
 * On stop the client logs how many requests it sent per op.
 */
const log = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'tidefs-probe-'));
  const env: NodeJS.ProcessEnv = {};
  for (const kv of (process.env.PROBE_CLIENT_ENV ?? '').split(',').filter(Boolean)) {
    const i = kv.indexOf('=');
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const cluster = await startCluster(3, log);
  const mnt = join(work, 'mnt');
  mkdirSync(mnt);
  await mount(cluster.urls, mnt, log, [], env, (process.env.PROBE_NODE_ARGS ?? '').split(' ').filter(Boolean));
  console.log(`MOUNT ${mnt}\nCLIENT_LOG ${mnt}.log\nNODE_LOGS ${cluster.dir}`);
  // The nodes' data goes (GiBs after a 1 GiB write at R=3, and probes are run many times); their logs stay.
  const stop = () => void stopAll().then(() => { removeClusters(true); process.exit(0); });
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  setInterval(() => {}, 1 << 30);
}

main().catch((e) => {
  log(`probe: ${(e as Error).stack ?? e}`);
  void stopAll().then(() => { removeClusters(true); process.exit(1); });
});
