import { pathToFileURL } from 'node:url';
import { SafetyViolation } from './checkers.js';
import { SimCluster, TICK_UNITS, describeOptions, optionsFromSeed, type SimOptions, type SimResult } from './cluster.js';

/** Thrown when a run breaks a property or does not converge; carries the replay command. */
export class SimFailure extends Error {
  constructor(readonly seed: number, cause: string) {
    super(`SEED=${seed} failed: ${cause}\nreplay: npm run sim -- --seed=${seed}   (or scripts/sim --seed ${seed})`);
    this.name = 'SimFailure';
  }
}

/** Runs one seed to completion: faults, heal, converge. Throws SimFailure. */
export function runSeed(seed: number, overrides: Partial<SimOptions> = {}, log: (line: string) => void = () => {}): SimResult {
  const o = optionsFromSeed(seed, overrides);
  log(`SEED=${seed} ${describeOptions(o)}`);
  const c = new SimCluster(o);
  try {
    for (let i = 0; i < o.faultTicks * TICK_UNITS; i++) c.step(true);
    c.heal();
    const healedAt = c.clock.now;
    let target = -1;
    while (c.clock.now - healedAt < o.convergeTicksMax * TICK_UNITS) {
      c.step(false);
      if (!c.converged()) continue;
      // Converged on what it has; now prove it still makes progress: one more entry must commit everywhere.
      if (target < 0) {
        if (c.propose()) target = c.leaders()[0]!.core!.log.lastIndex();
        continue;
      }
      if (c.leaders()[0]!.core!.log.committed >= target) return result(c, (c.clock.now - healedAt) / TICK_UNITS);
    }
    throw new SimFailure(seed, `no convergence within ${o.convergeTicksMax} ticks after healing (${describeState(c)})`);
  } catch (e) {
    if (e instanceof SimFailure) throw e;
    const what = e instanceof SafetyViolation ? e.message : (e as Error).stack ?? String(e);
    throw new SimFailure(seed, `at t=${c.clock.now}: ${what}`);
  }
}

function result(c: SimCluster, convergedAfterTicks: number): SimResult {
  return {
    seed: c.o.seed, ticks: c.clock.now / TICK_UNITS, convergedAfterTicks, committed: c.committedIndex(),
    ...c.stats, messages: c.net.delivered, checks: c.checker.checks,
  };
}

export function describeState(c: SimCluster): string {
  return [...c.nodes.values()].map((n) => {
    const k = n.core;
    if (!k) return `${n.id}:down`;
    return `${n.id}:${k.role}/t${k.term} last=${k.log.lastIndex()} commit=${k.log.committed} applied=${k.log.applied} members=${k.members().map((m) => m.id).join(',')}`;
  }).join('; ');
}

function parseArgs(argv: string[]): { seeds: number[]; verbose: boolean } {
  let seed: number | undefined;
  let count = 200;
  let from = Math.floor(Math.random() * 2 ** 31); // the soak picks fresh seeds; each prints its SEED
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i]!.split('=', 2);
    const val = () => Number(inline ?? argv[++i]);
    if (k === '--seed') seed = val();
    else if (k === '--seeds') count = val();
    else if (k === '--from') from = val();
    else if (k === '--verbose' || k === '-v') verbose = true;
    else throw new Error(`unknown argument ${argv[i]}; use --seed=N | --seeds=N [--from=N] [--verbose]`);
  }
  if (seed !== undefined) return { seeds: [seed], verbose: true };
  return { seeds: Array.from({ length: count }, (_, i) => from + i), verbose };
}

function main(): void {
  const { seeds, verbose } = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  let failed = 0;
  for (const s of seeds) {
    try {
      const r = runSeed(s, {}, (line) => (verbose || seeds.length === 1) && console.log(line));
      if (verbose) console.log(`  ok: ${JSON.stringify(r)}`);
    } catch (e) {
      failed++;
      console.log(`SEED=${s} ${describeOptions(optionsFromSeed(s))}`);
      console.log((e as Error).message);
    }
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`\nsim: ${seeds.length - failed} passed, ${failed} failed, ${seeds.length} seeds in ${secs} s`);
  process.exitCode = failed ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
