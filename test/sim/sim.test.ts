import t from 'tap';
import { runSeed } from './run-sim.js';

/**
 * The default run: fixed seeds, so CI is reproducible; `scripts/sim --seeds N` soaks random ones.
 * Every seed checks election safety, log matching, leader completeness, state machine safety and
 * linearizable reads after every step, then heals and must converge and commit.
 */
const SEEDS = Number(process.env.TIDEFS_SIM_SEEDS ?? 300);
const FROM = Number(process.env.TIDEFS_SIM_FROM ?? 1);

t.test(`cluster: simulation: ${SEEDS} seeded runs with drops, duplicates, delays, partitions, crashes and membership changes`, async (t) => {
  const t0 = performance.now();
  let failures = 0;
  for (let s = FROM; s < FROM + SEEDS; s++) {
    try {
      runSeed(s);
    } catch (e) {
      failures++;
      t.fail((e as Error).message);
      if (failures >= 5) break;
    }
  }
  t.equal(failures, 0, `all ${SEEDS} seeds hold every property and converge`);
  t.comment(`${SEEDS} seeds in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});

t.test('cluster: simulation: a seed replays exactly', async (t) => {
  t.same(runSeed(42), runSeed(42));
});

t.test('cluster: partition: isolate leader (R=3) keeps safety and converges', async (t) => {
  for (let s = 1; s <= 20; s++) {
    const r = runSeed(10_000 + s, { nodes: 3, partitionRate: 0.05, crashRate: 0, confRate: 0, dropRate: 0 });
    t.ok(r.convergedAfterTicks <= 400);
  }
});

t.test('cluster: crashes: restarts from disk lose only unpersisted state (R=5)', async (t) => {
  for (let s = 1; s <= 20; s++) {
    runSeed(20_000 + s, { nodes: 5, crashRate: 0.05, readyLagRate: 0.2, partitionRate: 0 });
  }
  t.pass();
});

t.test('cluster: snapshots: tight compaction forces InstallSnapshot over a real wire', async (t) => {
  let installed = 0;
  for (let s = 1; s <= 20; s++) installed += runSeed(30_000 + s, { nodes: 3, compactEvery: 5, compactKeep: 0, crashRate: 0.03, wire: true }).snapshotsInstalled;
  t.ok(installed > 0, `snapshots installed: ${installed}`);
});
