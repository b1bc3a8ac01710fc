import { fail, type FsResult } from '../../../shared/errno.js';
import { K } from '../keys.js';
import type { Tx } from '../tx.js';
import { liveSession } from './common.js';
import { hasOpens, retire } from './lifecycle.js';

/**
 * Open registrations that ride along with other requests (docs/perf-meta.md). A client's closes only
 * decide when an unlinked file is collected, so it queues them and sends them in the `releases` of its
 * next namespace change (or alone, batched, when none comes soon): one Raft entry instead of one per
 * close. A create registers the creator's open in its own entry (`mknod` with `open`).
 */

/** Counts one more open of `ino` by `session`. */
export async function registerOpen(tx: Tx, ino: number, session: string): Promise<void> {
  const n = (await tx.getVal<number>(K.open(ino, session))) ?? 0;
  tx.putVal(K.open(ino, session), n + 1);
  tx.putVal(K.sessionOpen(session, ino), 1);
  if (n === 0) await countSessions(tx, ino, +1);
}

/** n/<ino>: sessions holding the inode open, kept beside the o/ records so hasOpens is one get. */
async function countSessions(tx: Tx, ino: number, delta: number): Promise<void> {
  const c = ((await tx.getVal<number>(K.openCount(ino))) ?? 0) + delta;
  if (c > 0) tx.putVal(K.openCount(ino), c);
  else tx.del(K.openCount(ino));
}

/** Drops one open of `ino` by `session` (all of them with `all`); the last close of an orphan deletes it. */
export async function releaseOne(tx: Tx, ino: number, session: string, all: boolean): Promise<void> {
  const n = (await tx.getVal<number>(K.open(ino, session))) ?? 0;
  if (n > 1 && !all) {
    tx.putVal(K.open(ino, session), n - 1);
    return;
  }
  tx.del(K.open(ino, session));
  tx.del(K.sessionOpen(session, ino));
  if (n > 0) await countSessions(tx, ino, -1);
  const rec = await tx.getInode(ino);
  if (rec && rec.nlink === 0 && !(await hasOpens(tx, ino))) retire(tx, rec);
}

/** A read-only open that returned unregistered (`openRead`), registered now; a deleted inode is skipped. */
async function registerLate(tx: Tx, ino: number, session: string): Promise<void> {
  if (await tx.getInode(ino)) await registerOpen(tx, ino, session);
}

interface Carrier {
  session?: string | undefined;
  releases?: number[] | undefined;
  opens?: number[] | undefined;
}

/**
 * Wraps an op handler so that the opens and closes its request carries are applied with the op, in
 * the same entry, only if the op succeeded: a failed op is rolled back whole (apply.ts `execute`),
 * carried ones included, and the client queues them again. Opens go first, so that an unlink in the
 * same request finds the file open; for the rest order does not matter: an open count only ever
 * gates the deletion of a nameless inode, which is retired for a grace period first (lifecycle.ts).
 */
export function carrying<A extends Carrier, R>(op: (tx: Tx, a: A) => Promise<FsResult<R>>): (tx: Tx, a: A) => Promise<FsResult<R>> {
  return async (tx, a) => {
    if ((a.releases?.length || a.opens?.length) && a.session === undefined) return fail('EINVAL');
    // A release is not refused for a lapsed session (it tidies up); opens under one would never end.
    if (a.opens?.length && a.session !== undefined && (await liveSession(tx, a.session, tx.now))) {
      for (const ino of a.opens) await registerLate(tx, ino, a.session);
    }
    const r = await op(tx, a);
    if (r.ok && a.releases && a.session !== undefined) {
      for (const ino of a.releases) await releaseOne(tx, ino, a.session, false);
    }
    return r;
  };
}
