// The pure lock table (storagenode/meta/locks/table.ts): POSIX ranges, flock, fairness, limits.
import t from 'tap';
import { LOCK_WAITERS_PER_FILE_MAX, LOCKS_PER_FILE_MAX } from '../../../shared/limits.js';
import {
  conflictOf, dropSession, emptyFile, OFFSET_MAX, request, restore, unlock, wake, type FileLocks, type LockReq, type LockType,
} from '../../../storagenode/meta/locks/table.js';

const A = { session: 's1', owner: 'a' };
const B = { session: 's2', owner: 'b' };
const C = { session: 's2', owner: 'c' };
const px = (h: { session: string; owner: string }, type: LockType, start: number, end: number, pid = 7): LockReq =>
  ({ ...h, kind: 'posix', type, start, end, pid });
const fl = (h: { session: string; owner: string }, type: LockType): LockReq => ({ ...h, kind: 'flock', type, start: 0, end: OFFSET_MAX, pid: 9 });

function must(f: FileLocks, req: LockReq, wait = false, id = 1): FileLocks {
  const r = request(f, req, wait, id);
  if (r.state === 'failed') throw new Error(`request failed: ${r.errno}`);
  return r.file;
}
const ranges = (f: FileLocks) => f.posix.map((l) => `${l.owner}:${l.type}:${l.start}-${l.end === OFFSET_MAX ? 'EOF' : l.end}`);

t.test('a write lock excludes others; read locks coexist; disjoint ranges coexist', async (t) => {
  let f = must(emptyFile(), px(A, 'w', 0, 9));
  t.same(request(f, px(B, 'w', 5, 5), false, 2), { state: 'failed', errno: 'EAGAIN' });
  t.same(request(f, px(B, 'r', 9, 20), false, 2), { state: 'failed', errno: 'EAGAIN' });
  f = must(f, px(B, 'w', 10, 20));
  f = must(emptyFile(), px(A, 'r', 0, OFFSET_MAX));
  f = must(f, px(B, 'r', 5, 6));
  t.equal(f.posix.length, 2);
});

t.test('F_GETLK reports the conflicting lock with its holder and pid', async (t) => {
  const f = must(emptyFile(), px(A, 'w', 100, 199, 4242));
  t.match(conflictOf(f, px(B, 'r', 150, 150)), { type: 'w', start: 100, end: 199, pid: 4242, session: 's1', owner: 'a' });
  t.equal(conflictOf(f, px(A, 'w', 150, 150)), undefined, 'own locks never conflict');
  t.equal(conflictOf(f, px(B, 'r', 200, 300)), undefined);
});

t.test('unlocking the middle splits a lock; relocking merges it back', async (t) => {
  let f = must(emptyFile(), px(A, 'w', 0, 99));
  f = unlock(f, 'posix', A, 40, 59);
  t.same(ranges(f), ['a:w:0-39', 'a:w:60-99']);
  f = must(f, px(A, 'w', 40, 59));
  t.same(ranges(f), ['a:w:0-99']);
});

t.test('upgrade and downgrade of part of a range split by type', async (t) => {
  let f = must(emptyFile(), px(A, 'r', 0, 99));
  f = must(f, px(A, 'w', 10, 19));
  t.same(ranges(f), ['a:r:0-9', 'a:w:10-19', 'a:r:20-99']);
  f = must(f, px(A, 'r', 10, 19));
  t.same(ranges(f), ['a:r:0-99'], 'downgrade merges again');
});

t.test('an upgrade blocked by a reader waits; the reader\'s unlock grants it', async (t) => {
  let f = must(emptyFile(), px(A, 'r', 0, 9));
  f = must(f, px(B, 'r', 0, 9));
  const q = request(f, px(A, 'w', 0, 9), true, 5);
  t.equal(q.state, 'queued');
  f = (q as { file: FileLocks }).file;
  const w = wake(unlock(f, 'posix', B));
  t.same(w.granted.map((g) => g.waiter.id), [5]);
  t.same(w.granted[0]!.prior.map((l) => l.type), ['r'], 'prior keeps the read lock for an undo');
  t.same(ranges(w.file), ['a:w:0-9']);
});

t.test('fairness: a reader may not pass a queued writer, but a non-conflicting reader goes ahead', async (t) => {
  let f = must(emptyFile(), px(A, 'r', 0, 9));
  f = must(f, px(B, 'w', 0, 9), true, 2); // queued behind A's read lock
  t.equal(f.waiters.length, 1);
  t.same(request(f, px(C, 'r', 0, 9), false, 3), { state: 'failed', errno: 'EAGAIN' }, 'would starve the writer');
  t.equal(request(f, px(C, 'r', 50, 60), false, 3).state, 'granted', 'no overlap with the writer');
  t.equal(request(f, px(A, 'r', 0, 20), false, 3).state, 'granted', 'a holder is not queued behind its own waiters');
  f = must(f, px(C, 'r', 0, 9), true, 4);
  const w = wake(unlock(f, 'posix', A));
  t.same(w.granted.map((g) => g.waiter.id), [2], 'the writer first; the later reader still waits for it');
  const w2 = wake(unlock(w.file, 'posix', B));
  t.same(w2.granted.map((g) => g.waiter.id), [4]);
});

t.test('fairness: waiters that conflict only with locks are granted in order as locks allow', async (t) => {
  let f = must(emptyFile(), px(A, 'w', 0, 99));
  f = must(f, px(B, 'r', 0, 9), true, 2);
  f = must(f, px(C, 'r', 50, 59), true, 3);
  const w = wake(unlock(f, 'posix', A, 50, 99));
  t.same(w.granted.map((g) => g.waiter.id), [3], 'the later waiter is granted; the earlier still waits on a lock');
});

t.test('flock: shared coexist, exclusive excludes, conversion drops the old lock first (Linux)', async (t) => {
  let f = must(emptyFile(), fl(A, 'r'));
  f = must(f, fl(B, 'r'));
  t.same(request(f, fl(C, 'w'), false, 3), { state: 'failed', errno: 'EAGAIN' });
  const q1 = request(f, fl(A, 'w'), true, 4);
  t.equal(q1.state, 'queued');
  f = (q1 as { file: FileLocks }).file;
  t.same(f.flock.map((l) => l.owner), ['b'], 'A\'s shared lock went when it asked to convert');
  const q2 = request(f, fl(B, 'w'), false, 5);
  t.equal(q2.state, 'failed', 'B cannot convert while A waits (and B\'s old lock stays, rollback)');
  const w = wake(unlock(f, 'flock', B));
  t.same(w.granted.map((g) => g.waiter.id), [4]);
  t.same(must(f, { ...fl(C, 'r'), kind: 'posix', start: 0, end: 5 }).posix.length, 1, 'flock and POSIX locks are independent');
});

t.test('limits: ENOLCK past LOCKS_PER_FILE_MAX and LOCK_WAITERS_PER_FILE_MAX', async (t) => {
  let f = emptyFile();
  for (let i = 0; i < LOCKS_PER_FILE_MAX; i++) f = must(f, px(A, i % 2 ? 'r' : 'w', i * 2, i * 2));
  t.equal(f.posix.length, LOCKS_PER_FILE_MAX);
  t.same(request(f, px(A, 'w', 5000, 5000), false, 1), { state: 'failed', errno: 'ENOLCK' });
  t.equal(request(f, px(A, 'w', 0, 0), false, 1).state, 'granted', 'a change that adds no lock passes');
  t.equal(unlock(f, 'posix', A, 1, 1).posix.length, LOCKS_PER_FILE_MAX, 'unlocks never fail');
  let g = must(emptyFile(), px(A, 'w', 0, 0));
  for (let i = 0; i < LOCK_WAITERS_PER_FILE_MAX; i++) g = must(g, px({ session: 's9', owner: `o${i}` }, 'w', 0, 0), true, i + 10);
  t.same(request(g, px(B, 'w', 0, 0), true, 99999), { state: 'failed', errno: 'ENOLCK' });
});

t.test('restore undoes a grant exactly, and dropSession removes locks and waiters of one session', async (t) => {
  let f = must(emptyFile(), px(A, 'r', 0, 9));
  f = must(f, px(A, 'w', 20, 29));
  const req = px(A, 'w', 5, 24);
  const prior = f.posix.filter((l) => l.start <= 24 && l.end >= 5);
  const granted = must(f, req);
  t.same(ranges(granted), ['a:r:0-4', 'a:w:5-29']);
  t.same(ranges(restore(granted, req, prior)), ranges(f));
  f = must(f, px(B, 'w', 0, 9), true, 3);
  const d = dropSession(f, 's1');
  t.same(d.posix, []);
  t.equal(d.waiters.length, 1);
  t.same(wake(d).granted.map((g) => g.waiter.id), [3]);
});
