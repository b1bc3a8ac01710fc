// Lock ops in the metadata state machine: one entry each, waiters in the replicated state, grants
// reported once the entry is stored, and session end / lease expiry releasing locks.
import t from 'tap';
import { OFFSET_MAX } from '../../../storagenode/meta/locks/table.js';
import { MemKv } from '../../../storagenode/meta/mem-kv.js';
import { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';
import { Harness } from './harness.js';

async function setup() {
  const h = await Harness.create();
  const grants: { session: string; waiter: number }[] = [];
  h.sm.onLockGrants = (g) => grants.push(...g);
  const s1 = await h.session();
  const s2 = await h.session();
  const f = await h.create(1, 'f');
  return { h, grants, s1, s2, ino: f.ino };
}
const lk = (ino: number, session: string, owner: string, type: 'r' | 'w' | 'u', start = 0, end = OFFSET_MAX, wait = false) =>
  ({ ino, session, owner, kind: 'posix' as const, type, start, end, pid: 100, wait });

t.test('EAGAIN for a conflicting non-blocking lock; F_GETLK names the holder', async (t) => {
  const { h, s1, s2, ino } = await setup();
  t.same(await h.must('lock', lk(ino, s1, 'p1', 'w', 0, 9)), { state: 'granted' });
  t.equal(await h.errno('lock', lk(ino, s2, 'p2', 'r', 5, 5)), 'EAGAIN');
  t.same(await h.must('getlk', { ino, session: s2, owner: 'p2', type: 'r', start: 0, end: 100 }),
    { conflict: { type: 'w', start: 0, end: 9, pid: 100, session: s1, owner: 'p1' } });
  t.equal(await h.errno('lock', lk(999, s1, 'p1', 'w')), 'ENOENT');
});

t.test('a queued waiter is granted by the unlock entry, reported once stored, and confirmed by lockWait', async (t) => {
  const { h, grants, s1, s2, ino } = await setup();
  await h.must('lock', lk(ino, s1, 'p1', 'w'));
  const q = await h.must('lock', lk(ino, s2, 'p2', 'w', 0, OFFSET_MAX, true));
  t.same(q, { state: 'queued', waiter: h.index });
  const waiter = (q as { waiter: number }).waiter;
  t.same(await h.must('lockWait', { session: s2, waiter }), { state: 'queued' });
  t.same(grants, []);
  await h.must('lock', lk(ino, s1, 'p1', 'u'));
  t.same(grants, [{ session: s2, waiter }]);
  t.same(await h.must('lockWait', { session: s2, waiter }), { state: 'granted' });
  t.same(await h.must('lockWait', { session: s2, waiter }), { state: 'gone' }, 'a final answer is consumed');
  t.equal(await h.errno('lock', lk(ino, s1, 'p1', 'r', 0, 0)), 'EAGAIN', 'the waiter holds the lock now');
});

t.test('cancel removes a queued waiter; cancel after a grant undoes it and leaves no lock', async (t) => {
  const { h, grants, s1, s2, ino } = await setup();
  await h.must('lock', lk(ino, s1, 'p1', 'w'));
  const q = (await h.must('lock', lk(ino, s2, 'p2', 'w', 0, 9, true))) as { waiter: number };
  t.same(await h.must('lockCancel', { session: s2, waiter: q.waiter }), { undone: 'waiter' });
  await h.must('lock', lk(ino, s1, 'p1', 'u'));
  t.same(grants, [], 'nobody left to grant');
  await h.must('lock', lk(ino, s1, 'p1', 'w'));
  const q2 = (await h.must('lock', lk(ino, s2, 'p2', 'w', 0, 9, true))) as { waiter: number };
  await h.must('lock', lk(ino, s1, 'p1', 'u'));
  t.same(await h.must('lockCancel', { session: s2, waiter: q2.waiter }), { undone: 'grant' }, 'granted before the cancel arrived');
  t.same(await h.must('lock', lk(ino, s1, 'p1', 'w')), { state: 'granted' }, 'no lock left behind');
});

t.test('session close and lease expiry release locks and wake waiters; lapsed sessions get ESTALE', async (t) => {
  const { h, grants, s1, s2, ino } = await setup();
  await h.must('lock', lk(ino, s1, 'p1', 'w'));
  await h.must('lock', { ...lk(ino, s1, 'f1', 'w'), kind: 'flock' });
  const q = (await h.must('lock', lk(ino, s2, 'p2', 'r', 0, OFFSET_MAX, true))) as { waiter: number };
  const qf = (await h.must('lock', { ...lk(ino, s2, 'f2', 'w', 0, OFFSET_MAX, true), kind: 'flock' })) as { waiter: number };
  await h.must('sessionRenew', { session: s2 });
  h.nowMs += 15_000;
  await h.must('sessionRenew', { session: s2 });
  h.nowMs += 6_000; // s1's 20 s lease lapsed, s2 renewed 6 s ago
  t.equal(await h.errno('lock', lk(ino, s1, 'p1', 'w')), 'ESTALE', 'refused even before expireSessions runs');
  t.same(await h.must('expireSessions', {}), { expired: [s1] });
  t.same(grants.map((g) => g.waiter).sort(), [q.waiter, qf.waiter].sort());
  t.same(await h.must('lockWait', { session: s2, waiter: qf.waiter }), { state: 'granted' });
  await h.must('sessionClose', { session: s2 });
  const s3 = await h.session();
  t.same(await h.must('lock', lk(ino, s3, 'p3', 'w')), { state: 'granted' }, 'closing s2 freed its locks');
});

t.test('a retried lock request (same session and seq) is answered once: no second waiter', async (t) => {
  const { h, s1, s2, ino } = await setup();
  await h.must('lock', lk(ino, s1, 'p1', 'w'));
  const a = await h.must('lock', { ...lk(ino, s2, 'p2', 'w', 0, OFFSET_MAX, true), seq: 7 });
  const b = await h.must('lock', { ...lk(ino, s2, 'p2', 'w', 0, OFFSET_MAX, true), seq: 7 });
  t.same(a, b);
});

t.test('locks and waiters survive a restart of the store (they are replicated state)', async (t) => {
  const kv = new MemKv();
  const h = new Harness(await MetaStateMachine.memory(kv));
  const s1 = await h.session(), s2 = await h.session();
  const f = await h.create(1, 'f');
  await h.must('lock', lk(f.ino, s1, 'p1', 'w'));
  const q = (await h.must('lock', lk(f.ino, s2, 'p2', 'w', 0, OFFSET_MAX, true))) as { waiter: number };
  const h2 = new Harness(await MetaStateMachine.memory(kv.reopen()));
  h2.index = h.index;
  const grants: number[] = [];
  h2.sm.onLockGrants = (g) => grants.push(...g.map((x) => x.waiter));
  t.equal(await h2.errno('lock', lk(f.ino, s2, 'p9', 'r', 0, 0)), 'EAGAIN');
  await h2.must('lock', lk(f.ino, s1, 'p1', 'u'));
  t.same(grants, [q.waiter]);
});
