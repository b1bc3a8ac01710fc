// Seeded random file operations, applied to the target (a tidefs mount, or the local disk with
// TIDEFS_POSIX_TARGET=local) and to a local reference directory; after every step the names, sizes,
// link counts, bytes near the touched offsets and the errnos must agree. A failure prints the seed,
// a shrunk list of operations and the command to replay it.
//   TIDEFS_SEED=n              run only seed n
//   TIDEFS_RANDOM_SEEDS=n      run n seeds (the fixed ones first, then random ones)
//   TIDEFS_RANDOM_STEPS=n      operations per seed (default 300)
//   TIDEFS_RANDOM_SPARE_OPEN=1 diagnostic only: skip unlinks and renames that would remove a name
//                              of an open file (to look past a failure there)
import t from 'tap';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { posixTarget } from '../helpers/posix.js';
import { apply, compare, describe, focusOf, generate, removesOpenFile, Side, type Op } from '../helpers/posix-random.js';

const FIXED_SEEDS = [1, 2, 3];
const STEPS = Number(process.env.TIDEFS_RANDOM_STEPS ?? 300);
const SHRINK_RUNS_MAX = 60;
const SHRINK_MS_MAX = 120_000;
const SPARE_OPEN = process.env.TIDEFS_RANDOM_SPARE_OPEN === '1';

const target = await posixTarget(t);
const refBase = mkdtempSync(join(tmpdir(), 'tidefs-random-ref-'));
t.teardown(() => rmSync(refBase, { recursive: true, force: true }));

function seeds(): number[] {
  if (process.env.TIDEFS_SEED) return [Number(process.env.TIDEFS_SEED)];
  const n = Number(process.env.TIDEFS_RANDOM_SEEDS ?? FIXED_SEEDS.length);
  const out = FIXED_SEEDS.slice(0, n);
  while (out.length < n) out.push(Math.floor(Math.random() * 2 ** 31));
  return out;
}

let runs = 0;
/** Runs ops on fresh directories; answers the first step whose result or state differs, or null. */
function run(ops: Op[], applyA = apply, rootA = target.dir): { step: number; why: string } | null {
  const n = ++runs;
  const a = new Side(join(rootA, `run-${n}`));
  const b = new Side(join(refBase, `run-${n}`));
  try {
    for (let i = 0; i < ops.length; i++) {
      if (SPARE_OPEN && removesOpenFile(b, ops[i])) continue;
      const ra = applyA(a, ops[i]);
      const rb = apply(b, ops[i]);
      if (ra !== rb) return { step: i, why: `result ${ra}, reference ${rb}` };
      const diff = compare(a, b, focusOf(ops[i]));
      if (diff) return { step: i, why: diff };
    }
    return null;
  } finally {
    a.closeAll();
    b.closeAll();
    rmSync(a.root, { recursive: true, force: true });
    rmSync(b.root, { recursive: true, force: true });
  }
}

/** Drops chunks of operations (halves, then quarters...) while the run still fails. */
function shrink(ops: Op[], applyA = apply, rootA = target.dir): Op[] {
  const started = Date.now();
  let best = ops;
  let chunk = Math.ceil(best.length / 2);
  let budget = SHRINK_RUNS_MAX;
  while (chunk >= 1 && budget > 0 && Date.now() - started < SHRINK_MS_MAX) {
    let removed = false;
    for (let i = 0; i + chunk <= best.length - 1 && budget > 0; ) {
      const candidate = [...best.slice(0, i), ...best.slice(i + chunk)];
      budget--;
      const r = run(candidate, applyA, rootA);
      if (r) {
        best = candidate.slice(0, r.step + 1);
        removed = true;
      } else {
        i += chunk;
      }
    }
    if (!removed) chunk = Math.floor(chunk / 2);
  }
  return best;
}

for (const seed of seeds()) {
  t.test(`matches a local directory for ${STEPS} random operations (seed ${seed})`, async (t) => {
    t.comment(`SEED=${seed} steps=${STEPS} target=${target.kind}${SPARE_OPEN ? ' (sparing open files)' : ''}`);
    const ops = generate(seed, STEPS);
    const failure = run(ops);
    if (!failure) {
      t.pass(`${STEPS} steps agree`);
      return;
    }
    const prefix = ops.slice(0, failure.step + 1);
    t.comment(`seed ${seed}: step ${failure.step} (${describe(ops[failure.step])}): ${failure.why}; shrinking...`);
    const small = shrink(prefix);
    const again = run(small);
    t.comment(`shortest failing list found (${small.length} ops)${again ? `, fails with: ${again.why}` : ': did not fail again (flaky?)'}`);
    small.forEach((op, i) => t.comment(`  ${i}: ${describe(op)}`));
    t.comment(`rerun: TIDEFS_SEED=${seed} TIDEFS_RANDOM_STEPS=${failure.step + 1} node scripts/run-tests.mjs dist/test/client/random-ops.test.js`);
    t.fail(`seed ${seed} fails at step ${failure.step}: ${failure.why}; shrunk to ${small.length} ops (see the comments above)`);
  });
}

// Not a test of the file system: a side that silently drops large writes must be caught and shrunk
// to a few operations, so that a green run means something.
t.test('catches a planted lost write and shrinks it to a few operations', async (t) => {
  const dir = join(refBase, 'planted');
  mkdirSync(dir);
  const lossy = (s: Side, op: Op) => (op.k === 'write' && op.len > 60_000 && s.fds[op.slot] !== null ? `wrote ${op.len}` : apply(s, op));
  t.same(generate(7, 100), generate(7, 100), 'one seed always gives the same operations');
  const ops = generate(7, 100);
  const failure = run(ops, lossy, dir);
  t.ok(failure, 'the lost write is noticed');
  const small = shrink(ops.slice(0, failure!.step + 1), lossy, dir);
  t.ok(run(small, lossy, dir), 'the shrunk list still fails');
  t.ok(small.length <= 4, `shrunk to ${small.length} operations: ${small.map(describe).join('; ')}`);
});
