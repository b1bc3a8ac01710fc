import { fail, ok, type Errno } from '../../../shared/errno.js';
import { LOCKS_PER_SESSION_MAX } from '../../../shared/limits.js';
import type { OpArgs, OpResults } from '../../../shared/protocol/ops.js';
import type { Res } from '../ops/common.js';
import type { Tx } from '../tx.js';
import { LK, tailOfKey } from './keys.js';
import {
  conflictOf, countBySession, dropSession, dropWaiter, emptyFile, isEmpty, request, restore, unlock, wake,
  type FileLocks, type LockReq, type RangeLock,
} from './table.js';

/**
 * The lock ops of the metadata state machine (docs/locking.md): each loads one file's table
 * (l/f/<ino>), changes it with the pure functions of table.ts, wakes the waiters the change allows,
 * and stores the table, the per-session counts and the waiter records in the entry's batch.
 */

/** A queued or finished blocking request, by (session, waiter id): what lockWait and lockCancel look up. */
export interface WaitRec {
  ino: number;
  req: LockReq;
  state: 'queued' | 'granted' | 'failed';
  errno?: Errno;
  prior?: RangeLock[]; // the holder's locks over the range before the grant, to undo it on cancel
}

async function loadFile(tx: Tx, ino: number): Promise<FileLocks> {
  return (await tx.getVal<FileLocks>(LK.file(ino))) ?? emptyFile();
}

/**
 * Stores `after` (a change of `before`) once every waiter it allows has been woken; keeps the
 * per-session lock counts (l/i, l/n) in step and records the grants for the node to push.
 */
async function settle(tx: Tx, ino: number, before: FileLocks, changed: FileLocks): Promise<void> {
  const w = wake(changed);
  for (const g of w.granted) {
    const key = LK.wait(g.waiter.req.session, g.waiter.id);
    const rec = await tx.getVal<WaitRec>(key);
    if (rec) tx.putVal(key, { ...rec, state: 'granted', prior: g.prior });
    tx.lockGrants.push({ session: g.waiter.req.session, waiter: g.waiter.id });
  }
  for (const f of w.failed) {
    const key = LK.wait(f.waiter.req.session, f.waiter.id);
    const rec = await tx.getVal<WaitRec>(key);
    if (rec) tx.putVal(key, { ...rec, state: 'failed', errno: f.errno });
    tx.lockGrants.push({ session: f.waiter.req.session, waiter: f.waiter.id });
  }
  const after = w.file;
  if (isEmpty(after)) tx.del(LK.file(ino));
  else tx.putVal(LK.file(ino), after);
  await recount(tx, ino, countBySession(before), countBySession(after));
}

async function recount(tx: Tx, ino: number, was: Map<string, number>, now: Map<string, number>): Promise<void> {
  for (const session of new Set([...was.keys(), ...now.keys()])) {
    const delta = (now.get(session) ?? 0) - (was.get(session) ?? 0);
    if (delta === 0) continue;
    const n = now.get(session) ?? 0;
    if (n) tx.putVal(LK.sessionFile(session, ino), n);
    else tx.del(LK.sessionFile(session, ino));
    const total = ((await tx.getVal<number>(LK.sessionCount(session))) ?? 0) + delta;
    if (total > 0) tx.putVal(LK.sessionCount(session), total);
    else tx.del(LK.sessionCount(session));
  }
}

/** ENOLCK if the change would take the session past LOCKS_PER_SESSION_MAX (unlocks always pass). */
async function overSessionLimit(tx: Tx, session: string, before: FileLocks, after: FileLocks): Promise<boolean> {
  const delta = (countBySession(after).get(session) ?? 0) - (countBySession(before).get(session) ?? 0);
  if (delta <= 0) return false;
  return ((await tx.getVal<number>(LK.sessionCount(session))) ?? 0) + delta > LOCKS_PER_SESSION_MAX;
}

export async function lock(tx: Tx, a: OpArgs<'lock'>): Res<OpResults['lock']> {
  if (!(await tx.getInode(a.ino))) return fail('ENOENT');
  if (a.start > a.end) return fail('EINVAL');
  const before = await loadFile(tx, a.ino);
  const holder = { session: a.session, owner: a.owner };
  if (a.type === 'u') {
    await settle(tx, a.ino, before, unlock(before, a.kind, holder, a.start, a.end));
    return ok({ state: 'granted' });
  }
  const req: LockReq = { ...holder, kind: a.kind, type: a.type, start: a.start, end: a.end, pid: a.pid };
  const r = request(before, req, a.wait, tx.index);
  if (r.state === 'failed') return fail(r.errno);
  if (await overSessionLimit(tx, a.session, before, r.file)) return fail('ENOLCK');
  // A downgrade, a partial unlock by the new range or a flock conversion may free waiters.
  await settle(tx, a.ino, before, r.file);
  if (r.state === 'granted') return ok({ state: 'granted' });
  const rec: WaitRec = { ino: a.ino, req, state: 'queued' };
  tx.putVal(LK.wait(a.session, tx.index), rec);
  return ok({ state: 'queued', waiter: tx.index });
}

export async function getlk(tx: Tx, a: OpArgs<'getlk'>): Res<OpResults['getlk']> {
  if (!(await tx.getInode(a.ino))) return fail('ENOENT');
  const file = await loadFile(tx, a.ino);
  const c = conflictOf(file, { session: a.session, owner: a.owner, kind: 'posix', type: a.type, start: a.start, end: a.end, pid: 0 });
  return ok({ conflict: c ? { type: c.type, start: c.start, end: c.end, pid: c.pid, session: c.session, owner: c.owner } : null });
}

/** A final answer is handed out once (the dedup record covers a retry of the same request). */
export async function lockWait(tx: Tx, a: OpArgs<'lockWait'>): Res<OpResults['lockWait']> {
  const key = LK.wait(a.session, a.waiter);
  const rec = await tx.getVal<WaitRec>(key);
  if (!rec) return ok({ state: 'gone' });
  if (rec.state === 'queued') return ok({ state: 'queued' });
  tx.del(key);
  return ok(rec.state === 'failed' ? { state: 'failed', errno: rec.errno ?? 'ENOLCK' } : { state: 'granted' });
}

export async function lockCancel(tx: Tx, a: OpArgs<'lockCancel'>): Res<OpResults['lockCancel']> {
  const key = LK.wait(a.session, a.waiter);
  const rec = await tx.getVal<WaitRec>(key);
  if (!rec) return ok({ undone: 'none' });
  tx.del(key);
  if (rec.state === 'failed') return ok({ undone: 'none' });
  const before = await loadFile(tx, rec.ino);
  const after = rec.state === 'queued' ? dropWaiter(before, a.waiter) : restore(before, rec.req, rec.prior ?? []);
  // Leaving the queue can unblock later waiters (fairness rule), and an undone grant frees its range.
  await settle(tx, rec.ino, before, after);
  return ok({ undone: rec.state === 'queued' ? 'waiter' : 'grant' });
}

/** Session close or lease expiry: every lock and waiter of the session goes, and others' waiters wake. */
export async function dropSessionLocks(tx: Tx, session: string): Promise<void> {
  const inos: number[] = [];
  for await (const [key] of tx.prefix(LK.sessionFilePrefix(session))) inos.push(tailOfKey(key));
  for (const ino of inos) {
    const before = await loadFile(tx, ino);
    await settle(tx, ino, before, dropSession(before, session));
  }
  for await (const [key] of tx.prefix(LK.waitPrefix(session))) tx.del(key);
  tx.del(LK.sessionCount(session));
}
