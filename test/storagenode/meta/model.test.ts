import t from 'tap';
import type { Cred } from '../../../shared/types.js';
import { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';
import { ALICE, Harness, ROOT } from './harness.js';
import { Model } from './model.js';

/** Seeded randomized comparison against a model tree (JuiceFS random_test.go style). */
const SEEDS = process.env.TIDEFS_META_SEED ? [Number(process.env.TIDEFS_META_SEED)] : Array.from({ length: 12 }, (_, i) => i + 1);
const STEPS = Number(process.env.TIDEFS_META_STEPS ?? 200);

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['a', 'b', 'c', 'd', 'e', '.', 'a'];
const MODES = [0o755, 0o777, 0o700, 0o1777, 0o644, 0o2775, 0o555];
interface Step { op: string; args: Record<string, unknown> }

/** Picks the next op from the model's current state, so a seed and a step count replay exactly. */
function nextStep(r: () => number, m: Model): Step {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const inos = [...m.nodes.keys(), m.nextIno + 5];
  const dirs = [...m.nodes.values()].filter((n) => n.kind === 'dir').map((n) => n.ino);
  const cred: Cred = r() < 0.7 ? ROOT : ALICE;
  const dir = () => (r() < 0.9 ? pick(dirs) : pick(inos));
  switch (pick(['open', 'release', 'mkdir', 'mkdir', 'mknod', 'mknod', 'symlink', 'link', 'unlink', 'rmdir', 'rename', 'rename', 'chmod', 'truncate', 'write', 'setxattr', 'removexattr'])) {
    case 'open': return { op: 'open', args: { ino: pick(inos), flags: pick([0, 1, 2]), cred, session: '' } };
    case 'release': return { op: 'release', args: { ino: pick([...m.opens.keys(), ...inos]), session: '' } };
    case 'mkdir': return { op: 'mkdir', args: { parent: dir(), name: pick(NAMES), mode: pick(MODES), cred } };
    case 'mknod': return { op: 'mknod', args: { parent: dir(), name: pick(NAMES), mode: 0o100000 | pick(MODES), rdev: 0, cred } };
    case 'symlink': return { op: 'symlink', args: { parent: dir(), name: pick(NAMES), target: 't', cred } };
    case 'link': return { op: 'link', args: { ino: pick(inos), parent: dir(), name: pick(NAMES), cred } };
    case 'unlink': return { op: 'unlink', args: { parent: dir(), name: pick(NAMES), cred } };
    case 'rmdir': return { op: 'rmdir', args: { parent: dir(), name: pick(NAMES), cred } };
    case 'rename': return { op: 'rename', args: { parent: dir(), name: pick(NAMES), newParent: dir(), newName: pick(NAMES), flags: pick([0, 0, 0, 1, 2, 3]), cred } };
    case 'chmod': return { op: 'setattr', args: { ino: pick(inos), mode: pick(MODES), cred } };
    case 'truncate': return { op: 'setattr', args: { ino: pick(inos), size: Math.floor(r() * 5000), cred } };
    case 'write': return { op: 'commitWrite', args: { ino: pick(inos), slices: [{ chunk: 0, pos: Math.floor(r() * 4000), len: 1 + Math.floor(r() * 100), block: '', off: 0 }], cred } };
    case 'setxattr': return { op: 'setxattr', args: { ino: pick(inos), name: pick(['user.a', 'user.b']), value: Buffer.from('v'), flags: pick([0, 0, 1, 2, 3]), cred } };
    default: return { op: 'removexattr', args: { ino: pick(inos), name: pick(['user.a', 'user.b']), cred } };
  }
}

function applyModel(m: Model, s: Step): string {
  const a = s.args as Record<string, never>;
  switch (s.op) {
    case 'open': return m.open(a.ino, a.flags !== 0, a.cred);
    case 'release': return m.release(a.ino);
    case 'mkdir': return m.create(a.parent, a.name, 'dir', a.mode, a.cred);
    case 'mknod': return m.create(a.parent, a.name, 'file', a.mode, a.cred);
    case 'symlink': return m.create(a.parent, a.name, 'symlink', 0o777, a.cred);
    case 'link': return m.link(a.ino, a.parent, a.name, a.cred);
    case 'unlink': return m.remove(a.parent, a.name, false, a.cred);
    case 'rmdir': return m.remove(a.parent, a.name, true, a.cred);
    case 'rename': return m.rename(a.parent, a.name, a.newParent, a.newName, a.flags, a.cred);
    case 'setattr': return (s.args.mode !== undefined ? m.chmod(a.ino, a.mode, a.cred) : m.truncate(a.ino, a.size, a.cred));
    case 'commitWrite': { const sl = (s.args.slices as { pos: number; len: number }[])[0]!; return m.write(a.ino, sl.pos + sl.len, a.cred); }
    case 'setxattr': return m.setxattr(a.ino, a.name, a.flags, a.cred);
    default: return m.removexattr(a.ino, a.name, a.cred);
  }
}

async function describe(sm: MetaStateMachine, ino = 1, path = '/'): Promise<string[]> {
  const a = await sm.query('getattr', { ino });
  if (!a.ok) return [`${path} ${a.errno}`];
  const x = await sm.query('listxattr', { ino });
  const v = a.value;
  const out = [`${path} ino=${ino} ${v.type} mode=${v.mode.toString(8)} uid=${v.uid} gid=${v.gid} nlink=${v.nlink} size=${v.size} x=${x.ok ? x.value.names.join(',') : x.errno}`];
  if (v.type !== 'dir') return out;
  const r = await sm.query('readdir', { ino });
  if (r.ok) for (const e of r.value.entries) out.push(...(await describe(sm, e.ino, `${path}${e.name}/`)));
  return out;
}

/** The reachable tree, then the orphans the model knows of, as the state machine sees them. */
async function describeAll(sm: MetaStateMachine, m: Model): Promise<string[]> {
  const out = await describe(sm);
  for (const n of m.orphans()) out.push(...(await describe(sm, n.ino, 'orphan ')));
  return out;
}

/** Runs one seed; returns the failing step index and what differed, or undefined. */
async function runSeed(seed: number, steps: number): Promise<{ at: number; trace: Step[]; why: string } | undefined> {
  const r = rng(seed);
  const model = new Model();
  const h = await Harness.create();
  const trace: Step[] = [];
  const session = await h.session();
  h.index = 1;
  for (let i = 0; i < steps; i++) {
    const step = nextStep(r, model);
    if (step.op === 'commitWrite') (step.args.slices as { block: string }[])[0]!.block = h.block();
    if (step.op === 'open' || step.op === 'release') step.args.session = session;
    trace.push(step);
    const want = applyModel(model, step);
    const got = await h.errno(step.op as 'mkdir', step.args as never);
    if (got !== want) return { at: i, trace, why: `errno: state machine ${got}, model ${want}` };
    const [ts, tm] = [await describeAll(h.sm, model), [...model.describe(), ...model.orphans().flatMap((n) => model.line(n, 'orphan '))]];
    ts.push(`inodes=${h.sm.usage().inodes}`);
    tm.push(`inodes=${model.nodes.size}`);
    if (ts.join('\n') !== tm.join('\n')) return { at: i, trace, why: `tree differs:\n  sm:    ${ts.join('\n         ')}\n  model: ${tm.join('\n         ')}` };
  }
  return undefined;
}

for (const seed of SEEDS) {
  t.test(`model: random ops agree with a POSIX model tree (seed ${seed}, ${STEPS} steps)`, async (t) => {
    const failure = await runSeed(seed, STEPS);
    if (failure) {
      // Every earlier step matched, so the trace up to the failing step is the shortest failing prefix.
      const lines = failure.trace.map((s, i) => `  ${i}: ${s.op} ${JSON.stringify(s.args)}`).join('\n');
      console.error(`SEED=${seed} failed at step ${failure.at}\n${failure.why}\nshortest failing prefix:\n${lines}`);
      t.fail(`SEED=${seed} failed at step ${failure.at} (rerun: TIDEFS_META_SEED=${seed} TIDEFS_META_STEPS=${failure.at + 1})\n${failure.why}\nshortest failing prefix:\n${lines}`);
    } else {
      t.pass(`SEED=${seed}`);
    }
  });
}
