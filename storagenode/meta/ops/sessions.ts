import { fail, ok } from '../../../shared/errno.js';
import type { OpArgs, OpResults } from '../../../shared/protocol/ops.js';
import { compareTime, type Time } from '../../../shared/time.js';
import type { InternalResults } from '../command.js';
import { K, sessionIdFor, tailNumber } from '../keys.js';
import { toAttr, unpack, type SessionRec } from '../records.js';
import type { Tx } from '../tx.js';
import { liveSession, timeAddMs, type Res } from './common.js';
import { forWriting, O_TRUNC, openable } from './openable.js';
import { truncateTo } from './data.js';
import { dropPrivs } from './privs.js';
import { carrying, registerOpen, releaseOne } from './carried.js';
import { dropSessionLocks } from '../locks/ops.js';

export async function sessionOpen(tx: Tx, a: OpArgs<'sessionOpen'>): Res<OpResults['sessionOpen']> {
  const id = sessionIdFor(tx.index);
  const rec: SessionRec = { client: a.client, leaseMs: a.leaseMs, expires: timeAddMs(tx.now, a.leaseMs) };
  tx.putVal(K.session(id), rec);
  return ok({ session: id, leaseMs: a.leaseMs });
}

export async function sessionRenew(tx: Tx, a: OpArgs<'sessionRenew'>): Res<OpResults['sessionRenew']> {
  const s = await liveSession(tx, a.session, tx.now);
  if (!s) return fail('ESTALE');
  tx.putVal(K.session(a.session), { ...s, expires: timeAddMs(tx.now, s.leaseMs) });
  return ok({ leaseMs: s.leaseMs });
}

/**
 * How long the recorded replies of an expired session outlive it. A client whose lease lapsed while a
 * request's outcome was unknown (e.g. during a partition) retries with the same (session, seq) for up
 * to a minute; finding the first reply here is what stops it from applying the change twice.
 */
export const RETIRED_REPLIES_MS = 10 * 60 * 1000;

/**
 * Ends a session: its locks (waking others' waiters) and its opens go with it. A session closed by its
 * client has no request in flight, so its replies go too; an expired one keeps them for a while.
 */
export async function dropSession(tx: Tx, session: string, keepReplies = false): Promise<void> {
  await dropSessionLocks(tx, session);
  for await (const [key] of tx.prefix(K.sessionOpenPrefix(session))) await releaseOne(tx, tailNumber(key), session, true);
  if (keepReplies) tx.putVal(K.retired(session), timeAddMs(tx.now, RETIRED_REPLIES_MS));
  else await forgetReplies(tx, session);
  tx.del(K.session(session));
}

async function forgetReplies(tx: Tx, session: string): Promise<void> {
  for await (const [key] of tx.prefix(K.dedupPrefix(session))) tx.del(key);
  tx.del(K.retired(session));
}

export async function sessionClose(tx: Tx, a: OpArgs<'sessionClose'>): Res<OpResults['sessionClose']> {
  await dropSession(tx, a.session);
  return ok({});
}

export async function expireSessions(tx: Tx): Res<InternalResults['expireSessions']> {
  const expired: string[] = [];
  for await (const [key, value] of tx.prefix(K.sessionPrefix())) {
    const s = unpack<SessionRec>(value);
    if (compareTime(s.expires, tx.now) < 0) expired.push(key.subarray(2).toString('utf8'));
  }
  for (const id of expired) await dropSession(tx, id, true);
  const forget: string[] = [];
  for await (const [key, value] of tx.prefix(K.retiredPrefix())) {
    if (compareTime(unpack<Time>(value), tx.now) < 0) forget.push(key.subarray(2).toString('utf8'));
  }
  for (const id of forget) await forgetReplies(tx, id);
  return ok({ expired });
}

export const open = carrying(async (tx: Tx, a: OpArgs<'open'>): Res<OpResults['open']> => {
  if (!(await liveSession(tx, a.session, tx.now))) return fail('ESTALE');
  const r = await openable(tx, a);
  if (!r.ok) return r;
  const rec = r.value;
  if (a.flags & O_TRUNC && forWriting(a.flags) && rec.type === 'file') {
    if (rec.size > 0) await truncateTo(tx, rec, 0);
    if (a.cred.uid !== 0) await dropPrivs(tx, rec, a.cred); // as Linux's truncate on open by an unprivileged caller
  }
  await registerOpen(tx, rec.ino, a.session);
  tx.putInode(rec);
  return ok(toAttr(rec));
});

/** One close of `ino`; the request's `releases` carry more (a client's queued closes, in one entry). */
export const release = carrying(async (tx: Tx, a: OpArgs<'release'>): Res<OpResults['release']> => {
  if (a.ino !== undefined) await releaseOne(tx, a.ino, a.session, false);
  return ok({});
});
