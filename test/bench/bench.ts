import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machineLines } from './machine.js';
import { mount, removeClusters, removeDir, runningProcs, startCluster, stopAll, stopOnSignals } from './processes.js';
import { CLIENT_RSS_LIMIT_MB, NODE_RSS_LIMIT_MB, RssSampler } from './rss.js';
import { FULL, makeTarball, QUICK, runWorkloads, type Figure, type Sizes } from './workloads.js';

/**
 * `npm run bench [-- --quick] [-- --only=seq,rand,files,small,untar]`: each workload runs on a local
 * directory and on a tidefs mount (3 nodes, R=3) in the same run. Output lines are machine readable:
 *   metric value unit ratio
 * where ratio = tidefs figure ÷ local figure (for times, it is how many times slower tidefs was).
 * `client_rss_max` and `node_rss_max` (MB, the peak VmHWM of the client and of the largest node
 * during the tidefs run) carry as ratio their share of the limit (300 MB client, 600 MB node).
 * Lines starting with `#` are comments: the machine (nproc, kernel) and the load average at start and end.
 */
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const sizes: Sizes = quick ? QUICK : FULL;
const log = (s: string) => process.stderr.write(`${s}\n`);

function runAll(target: string, dir: string, tarball: string): Promise<Map<string, Figure>> {
  return runWorkloads(target, dir, tarball, sizes, only, log, 'bench');
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'tidefs-bench-work-'));
  let ok = false;
  // Data always goes (a full run leaves GiBs); after a failure the node logs stay.
  const cleanup = () => {
    removeDir(work);
    for (const d of removeClusters(!ok)) log(`bench: node logs kept in ${d}`);
  };
  stopOnSignals(cleanup);
  for (const l of machineLines('start')) console.log(l);
  const sampler = new RssSampler(runningProcs);
  try {
    log(`bench: ${quick ? 'quick' : 'full'} run; building a tarball of ${sizes.tarEntries} entries`);
    const tarball = await makeTarball(work, sizes.tarEntries);
    const local = join(work, 'local');
    mkdirSync(local);
    const localFigures = await runAll('local', local, tarball);
    const cluster = await startCluster(3, log);
    const mnt = join(work, 'mnt');
    mkdirSync(mnt);
    await mount(cluster.urls, mnt, log);
    sampler.start();
    const tideFigures = await runAll('tidefs', mnt, tarball);
    sampler.stop();
    console.log('# metric value unit ratio   (ratio = tidefs ÷ local disk, same run; for times: times slower)');
    for (const [metric, f] of tideFigures) {
      const base = localFigures.get(metric);
      const ratio = base ? f.value / base.value : NaN;
      console.log(`${metric} ${f.value.toFixed(2)} ${f.unit} ${ratio.toFixed(3)}`);
      console.log(`local_${metric} ${base?.value.toFixed(2)} ${f.unit} 1.000`);
    }
    const mem = sampler.figures();
    const client = Math.max(0, ...mem.filter((m) => m.role.startsWith('client')).map((m) => m.hwmMb));
    const node = Math.max(0, ...mem.filter((m) => !m.role.startsWith('client')).map((m) => m.hwmMb));
    console.log(`client_rss_max ${client.toFixed(1)} MB ${(client / CLIENT_RSS_LIMIT_MB).toFixed(3)}`);
    console.log(`node_rss_max ${node.toFixed(1)} MB ${(node / NODE_RSS_LIMIT_MB).toFixed(3)}`);
    log(`bench: peak RSS (VmHWM) per process: ${mem.map((m) => `${m.role} ${m.hwmMb.toFixed(0)} MB`).join(', ')}`);
    for (const l of machineLines('end')) console.log(l);
    ok = true;
    return 0;
  } finally {
    sampler.stop();
    await stopAll();
    cleanup();
  }
}

main().then((c) => process.exit(c), (e) => {
  log(`bench: failed: ${(e as Error).stack ?? e}`);
  void stopAll().then(() => process.exit(1));
});
