import { fail, ok, type FsResult } from '../../shared/errno.js';
import { timeToMs } from '../../shared/time.js';
import { reapOrphans } from './ops/lifecycle.js';
import type { MetaCommand, MetaCommandOp, CommandResults } from './command.js';
import { K, tailNumber } from './keys.js';
import { unpack } from './records.js';
import type { Tx } from './tx.js';
import { compactChunk } from './ops/compact.js';
import { commitWrite } from './ops/data.js';
import { link, mkdir, mknod, rmdir, symlink, unlink } from './ops/namespace.js';
import { rename } from './ops/rename.js';
import { expireSessions, open, release, sessionClose, sessionOpen, sessionRenew } from './ops/sessions.js';
import { liveSession } from './ops/common.js';
import { setattr } from './ops/setattr.js';
import { getlk, lock, lockCancel, lockWait } from './locks/index.js';
import { removexattr, setxattr } from './ops/xattr.js';

/** Replies kept per session for retried requests (Raft dissertation §6.3); older ones are dropped. */
export const DEDUP_WINDOW = 256;

type Handler<O extends MetaCommandOp> = (tx: Tx, args: Extract<MetaCommand, { op: O }>['args']) => Promise<FsResult<CommandResults[O]>>;
const HANDLERS: { [O in MetaCommandOp]: Handler<O> } = {
  mknod, mkdir, symlink, link, unlink, rmdir, rename, setattr, setxattr, removexattr, commitWrite, compactChunk,
  open, release, sessionOpen, sessionRenew, sessionClose, lock, getlk, lockWait, lockCancel,
  expireSessions: (tx) => expireSessions(tx),
  reapOrphans: async (tx, a) => ok(await reapOrphans(tx, timeToMs(a.before))),
};

/** Ops whose session is not a lease check: they end or tidy a session that may already be gone. */
const SESSION_EXEMPT: ReadonlySet<MetaCommandOp> = new Set(['release', 'sessionClose', 'sessionOpen', 'expireSessions', 'reapOrphans']);

function sessionOf(args: object): { session?: string; seq?: number } {
  return args as { session?: string; seq?: number };
}

/** Sessions whose lowest recorded seq is remembered (TxHints.dedupLow); past this it starts over. */
const DEDUP_HINTS_MAX = 65_536;
/** Up to this many seqs leaving the window are deleted by key instead of found by a scan. */
const DEDUP_POINT_DELETES_MAX = 16;

async function recordReply(tx: Tx, session: string, seq: number, result: unknown): Promise<void> {
  tx.putVal(K.dedup(session, seq), result);
  // Every recorded seq is >= low, so the seqs that leave the window are among low..drop. A few are
  // deleted by key (absent ones cost a tombstone), saving the scan: a LevelDB iterator, two
  // thread-pool round trips, ~2 ms of a lock op's 3 ms under load. The state is the same either way.
  const lows = tx.hints.dedupLow;
  const low = lows.get(session);
  const drop = seq - DEDUP_WINDOW; // seqs <= drop leave the window
  if (low !== undefined && drop < low) {
    if (seq < low) lows.set(session, seq);
    return;
  }
  if (low !== undefined && drop - low < DEDUP_POINT_DELETES_MAX) {
    for (let s = low; s <= drop; s++) tx.del(K.dedup(session, s));
    lows.set(session, drop + 1);
    return;
  }
  // Keys sort by seq, so the oldest are first; stop at the first one still inside the window.
  let first = seq;
  for await (const [key] of tx.prefix(K.dedupPrefix(session))) {
    if (tailNumber(key) + DEDUP_WINDOW > seq) {
      first = tailNumber(key);
      break;
    }
    tx.del(key);
  }
  if (lows.size >= DEDUP_HINTS_MAX) lows.clear();
  lows.set(session, first);
}

/**
 * Runs one decoded command in `tx`. A failed op leaves no writes behind. A command with a session
 * must carry a live one (a frozen client cannot write after its lease lapsed), and a (session, seq)
 * seen before gets its recorded reply instead of a second application.
 */
export async function execute(tx: Tx, cmd: MetaCommand): Promise<FsResult<unknown>> {
  const { session, seq } = sessionOf(cmd.args);
  const dedup = session !== undefined && seq !== undefined;
  // The recorded reply comes first: a retry whose first attempt committed just before the lease
  // lapsed must get that reply, not ESTALE (which would make the client resend it under a new session).
  if (dedup) {
    const seen = await tx.get(K.dedup(session, seq));
    if (seen) return unpack<FsResult<unknown>>(seen);
  }
  if (session !== undefined && !SESSION_EXEMPT.has(cmd.op) && !(await liveSession(tx, session, tx.now))) {
    return fail('ESTALE');
  }
  tx.mark();
  const result = await (HANDLERS[cmd.op] as Handler<MetaCommandOp>)(tx, cmd.args as never);
  if (!result.ok) tx.rollback();
  if (dedup) await recordReply(tx, session, seq, result);
  return result;
}
