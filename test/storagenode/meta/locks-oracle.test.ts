// Seeded randomized test: the lock table against a brute-force oracle that keeps, for every byte
// of a small file, which holder has which lock type, and models the FIFO queue and fairness rule
// byte by byte. Replay a failure with LOCKS_SEED=<seed>.
import t from 'tap';
import {
  blockedBy, emptyFile, OFFSET_MAX, request, unlock, wake, dropWaiter, type FileLocks, type LockReq, type LockType,
} from '../../../storagenode/meta/locks/table.js';

const BYTES = 48; // the model's file; a range ending past it stands for "to EOF" (OFFSET_MAX)
const HOLDERS = ['s1/a', 's1/b', 's2/a', 's3/c'];

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
}

type Bytes = Map<string, LockType>[]; // per byte: holder → type
interface ModelWaiter { id: number; holder: string; type: LockType; start: number; end: number }
interface Model { bytes: Bytes; queue: ModelWaiter[] }

const clamp = (end: number) => Math.min(end, BYTES - 1);
function modelConflict(m: Model, holder: string, type: LockType, start: number, end: number): boolean {
  for (let i = start; i <= clamp(end); i++) {
    for (const [h, ty] of m.bytes[i]!) if (h !== holder && (ty === 'w' || type === 'w')) return true;
  }
  return false;
}
function modelHolds(m: Model, holder: string): boolean {
  return m.bytes.some((b) => b.has(holder));
}
function modelBlocked(m: Model, w: Omit<ModelWaiter, 'id'>, before: number): boolean {
  if (modelConflict(m, w.holder, w.type, w.start, w.end)) return true;
  if (modelHolds(m, w.holder)) return false;
  return m.queue.slice(0, before).some((q) => q.holder !== w.holder && q.start <= w.end && w.start <= q.end && (q.type === 'w' || w.type === 'w'));
}
function modelSet(m: Model, holder: string, type: LockType | 'u', start: number, end: number): void {
  for (let i = start; i <= clamp(end); i++) {
    if (type === 'u') m.bytes[i]!.delete(holder);
    else m.bytes[i]!.set(holder, type);
  }
}
function modelWake(m: Model): number[] {
  const granted: number[] = [];
  for (let i = 0; i < m.queue.length;) {
    const w = m.queue[i]!;
    if (modelBlocked(m, w, i)) { i++; continue; }
    m.queue.splice(i, 1);
    modelSet(m, w.holder, w.type, w.start, w.end);
    granted.push(w.id);
  }
  return granted;
}

/** The table's locks expanded to bytes, plus the shape rules the per-byte model cannot see. */
function expand(f: FileLocks): { bytes: string[]; shapeError?: string } {
  const bytes: Map<string, LockType>[] = Array.from({ length: BYTES }, () => new Map());
  for (const l of f.posix) {
    const h = `${l.session}/${l.owner}`;
    for (let i = l.start; i <= clamp(l.end); i++) {
      if (bytes[i]!.has(h)) return { bytes: [], shapeError: `holder ${h} has two locks over byte ${i}` };
      bytes[i]!.set(h, l.type);
    }
    for (const o of f.posix) {
      if (o !== l && `${o.session}/${o.owner}` === h && o.type === l.type && o.start === l.end + 1) return { bytes: [], shapeError: `unmerged neighbours ${l.start}-${l.end}` };
    }
  }
  return { bytes: bytes.map(show) };
}
const show = (b: Map<string, LockType>) => [...b].map(([h, ty]) => `${h}=${ty}`).sort().join(',');

function randomRange(r: () => number): [number, number] {
  const start = Math.floor(r() * (BYTES - 4));
  const toEof = r() < 0.2;
  return [start, toEof ? OFFSET_MAX : Math.min(BYTES - 5, start + Math.floor(r() * 12))];
}

function runSeed(seed: number, steps: number): string | null {
  const r = rng(seed);
  let f = emptyFile();
  const m: Model = { bytes: Array.from({ length: BYTES }, () => new Map()), queue: [] };
  for (let step = 1; step <= steps; step++) {
    const holder = HOLDERS[Math.floor(r() * HOLDERS.length)]!;
    const [session, owner] = holder.split('/') as [string, string];
    const [start, end] = randomRange(r);
    const dice = r();
    let expectGrants: number[] = [];
    let gotGrants: number[] = [];
    if (dice < 0.3) {
      const w = wake(unlock(f, 'posix', { session, owner }, start, end));
      f = w.file;
      gotGrants = w.granted.map((g) => g.waiter.id);
      modelSet(m, holder, 'u', start, end);
      expectGrants = modelWake(m);
    } else if (dice < 0.38 && m.queue.length) {
      const victim = m.queue[Math.floor(r() * m.queue.length)]!;
      const w = wake(dropWaiter(f, victim.id));
      f = w.file;
      gotGrants = w.granted.map((g) => g.waiter.id);
      m.queue = m.queue.filter((q) => q.id !== victim.id);
      expectGrants = modelWake(m);
    } else {
      const type: LockType = r() < 0.5 ? 'r' : 'w';
      const wait = r() < 0.5;
      const req: LockReq = { session, owner, kind: 'posix', type, start, end, pid: step };
      const blocked = modelBlocked(m, { holder, type, start, end }, m.queue.length);
      if ((blockedBy(f, req) !== undefined) !== blocked) return `step ${step}: blockedBy disagrees (model ${blocked})`;
      const res = request(f, req, wait, step);
      if (blocked && !wait) {
        if (res.state !== 'failed' || res.errno !== 'EAGAIN') return `step ${step}: expected EAGAIN, got ${res.state}`;
        continue;
      }
      if (res.state === 'failed') return `step ${step}: unexpected ${res.errno}`;
      if (blocked) m.queue.push({ id: step, holder, type, start, end });
      else modelSet(m, holder, type, start, end);
      const w = wake(res.file);
      f = w.file;
      gotGrants = w.granted.map((g) => g.waiter.id);
      expectGrants = modelWake(m); // a downgrade may free waiters
    }
    if (gotGrants.join() !== expectGrants.join()) return `step ${step}: grants ${gotGrants} vs model ${expectGrants}`;
    const e = expand(f);
    if (e.shapeError) return `step ${step}: ${e.shapeError}`;
    const want = m.bytes.map(show);
    const bad = want.findIndex((x, i) => x !== e.bytes[i]);
    if (bad >= 0) return `step ${step}: byte ${bad}: table ${e.bytes[bad]} vs model ${want[bad]}`;
    if (f.waiters.map((w) => w.id).join() !== m.queue.map((q) => q.id).join()) return `step ${step}: queues differ`;
  }
  return null;
}

const fixed = process.env.LOCKS_SEED ? [Number(process.env.LOCKS_SEED)] : Array.from({ length: 40 }, (_, i) => 1000 + i);
t.test(`lock table vs per-byte oracle (${fixed.length} seeds x 400 steps)`, async (t) => {
  t.comment(`SEEDS=${fixed[0]}..${fixed[fixed.length - 1]}`);
  for (const seed of fixed) {
    const err = runSeed(seed, 400);
    if (err) {
      t.fail(`SEED=${seed}: ${err} (replay: LOCKS_SEED=${seed})`);
      return;
    }
  }
  t.pass('every step agreed');
});

t.test('the oracle catches a planted fault (self-test)', async (t) => {
  // A table whose unlock forgets to split: the comparison must notice.
  let f = emptyFile();
  const r0 = request(f, { session: 's1', owner: 'a', kind: 'posix', type: 'w', start: 0, end: 9, pid: 1 }, false, 1);
  f = (r0 as { file: FileLocks }).file;
  const wrong: FileLocks = { ...f, posix: [] }; // "unlock 3-4" done wrong: everything gone
  const right = unlock(f, 'posix', { session: 's1', owner: 'a' }, 3, 4);
  t.not(expand(wrong).bytes.join('|'), expand(right).bytes.join('|'));
});
