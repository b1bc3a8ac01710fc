import type { Errno } from '../../../shared/errno.js';
import { LOCK_WAITERS_PER_FILE_MAX, LOCKS_PER_FILE_MAX } from '../../../shared/limits.js';

/**
 * The lock table of one file, as a pure value: no clock, no randomness, no I/O. The state machine
 * loads it, calls these functions and stores the result, so every replica computes the same table.
 *
 * Two independent lock families live side by side, as on Linux: POSIX record locks (fcntl/lockf),
 * owned by (session, kernel lock owner = the process's files_struct), and flock locks, owned by
 * (session, open file description). A flock is a record lock over the whole file, so one range
 * algorithm serves both. Ranges are inclusive; `end === OFFSET_MAX` means "to end of file, and beyond".
 *
 * Fairness rule (docs/locking.md): waiters queue in FIFO order. A request (new, or a waiter being
 * woken) is granted iff it conflicts with no lock of another holder AND with no earlier waiter of
 * another holder. A waiter that conflicts with no earlier waiter is therefore granted as soon as the
 * locks allow, even if earlier waiters still wait (readers behind a waiting reader need not wait for
 * it). One exception: a holder that already holds a lock of that family on the file is not made to
 * queue behind waiters, because those waiters may be waiting for it (upgrades would deadlock).
 */
export const OFFSET_MAX = Number.MAX_SAFE_INTEGER;

export type LockType = 'r' | 'w';
export type LockKind = 'posix' | 'flock';

export interface Holder {
  session: string;
  owner: string;
}
export interface RangeLock extends Holder {
  type: LockType;
  start: number;
  end: number; // inclusive
  pid: number;
}
export interface LockReq extends RangeLock {
  kind: LockKind;
}
export interface Waiter {
  id: number; // the Raft index of the entry that queued it: unique and the same on every replica
  req: LockReq;
}
export interface FileLocks {
  posix: RangeLock[];
  flock: RangeLock[];
  waiters: Waiter[];
}

export const emptyFile = (): FileLocks => ({ posix: [], flock: [], waiters: [] });
export const isEmpty = (f: FileLocks) => !f.posix.length && !f.flock.length && !f.waiters.length;

export const sameHolder = (a: Holder, b: Holder) => a.session === b.session && a.owner === b.owner;
const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }) => a.start <= b.end && b.start <= a.end;
const clash = (a: LockType, b: LockType) => a === 'w' || b === 'w';

function listOf(f: FileLocks, kind: LockKind): RangeLock[] {
  return kind === 'posix' ? f.posix : f.flock;
}
function withList(f: FileLocks, kind: LockKind, list: RangeLock[]): FileLocks {
  return kind === 'posix' ? { ...f, posix: list } : { ...f, flock: list };
}

/** The first lock of another holder that `req` cannot coexist with (what F_GETLK reports). */
export function conflictOf(f: FileLocks, req: LockReq): RangeLock | undefined {
  return listOf(f, req.kind).find((l) => !sameHolder(l, req) && overlaps(l, req) && clash(l.type, req.type));
}

function holdsAny(f: FileLocks, kind: LockKind, h: Holder): boolean {
  return listOf(f, kind).some((l) => sameHolder(l, h));
}

/** Why `req` cannot be granted now: a held lock, an earlier waiter (the first `before` in the queue), or nothing. */
export function blockedBy(f: FileLocks, req: LockReq, before = f.waiters.length): 'lock' | 'waiter' | undefined {
  if (conflictOf(f, req)) return 'lock';
  if (holdsAny(f, req.kind, req)) return undefined;
  for (let i = 0; i < before; i++) {
    const w = f.waiters[i]!.req;
    if (w.kind === req.kind && !sameHolder(w, req) && overlaps(w, req) && clash(w.type, req.type)) return 'waiter';
  }
  return undefined;
}

/**
 * Sets (or with 'u' clears) the holder's lock type over [start, end]: the holder's locks there are
 * cut away (a lock straddling the range splits in two), then the new lock is merged with the
 * holder's adjacent locks of the same type, so a holder never has two touching locks of one type.
 */
export function setRange(list: RangeLock[], h: Holder, type: LockType | 'u', start: number, end: number, pid: number): RangeLock[] {
  let out: RangeLock[] = [];
  for (const l of list) {
    if (!sameHolder(l, h) || l.end < start || l.start > end) {
      out.push(l);
      continue;
    }
    if (l.start < start) out.push({ ...l, end: start - 1 });
    if (l.end > end) out.push({ ...l, start: end + 1 });
  }
  if (type !== 'u') {
    let s = start, e = end;
    const keep: RangeLock[] = [];
    for (const l of out) {
      // Only adjacency is possible here: the holder's overlap with [start, end] was cut above.
      if (sameHolder(l, h) && l.type === type && (l.end + 1 === s || l.start === e + 1)) {
        s = Math.min(s, l.start);
        e = Math.max(e, l.end);
      } else {
        keep.push(l);
      }
    }
    keep.push({ session: h.session, owner: h.owner, type, start: s, end: e, pid });
    out = keep;
  }
  return out.sort(byStart);
}

function byStart(a: RangeLock, b: RangeLock): number {
  if (a.start !== b.start) return a.start - b.start;
  if (a.session !== b.session) return a.session < b.session ? -1 : 1;
  return a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0;
}

const lockCount = (f: FileLocks) => f.posix.length + f.flock.length;

/** Gives `req` its lock (no conflict check); ENOLCK if the file would hold too many locks. */
export function grant(f: FileLocks, req: LockReq): FileLocks | Errno {
  const next = withList(f, req.kind, setRange(listOf(f, req.kind), req, req.type, req.start, req.end, req.pid));
  if (lockCount(next) > LOCKS_PER_FILE_MAX && lockCount(next) > lockCount(f)) return 'ENOLCK';
  return next;
}

/** Clears the holder's locks of one family over [start, end] (an unlock never fails: splits may exceed the limit). */
export function unlock(f: FileLocks, kind: LockKind, h: Holder, start = 0, end = OFFSET_MAX): FileLocks {
  return withList(f, kind, setRange(listOf(f, kind), h, 'u', start, end, 0));
}

export type RequestResult =
  | { state: 'granted'; file: FileLocks }
  | { state: 'queued'; file: FileLocks }
  | { state: 'failed'; errno: Errno };

/**
 * A lock request. Granted at once under the fairness rule; otherwise EAGAIN, or (wait) queued as
 * waiter `id`. A flock conversion (shared ↔ exclusive) first drops the old flock, as Linux does
 * (flock(2): "converting a lock is not guaranteed to be atomic"), so two readers upgrading at once
 * cannot deadlock; a failed non-blocking conversion is rolled back with the whole entry.
 */
export function request(f: FileLocks, req: LockReq, wait: boolean, id: number): RequestResult {
  let cur = f;
  if (req.kind === 'flock') {
    const held = cur.flock.find((l) => sameHolder(l, req));
    if (held?.type === req.type) return { state: 'granted', file: cur };
    if (held) cur = unlock(cur, 'flock', req);
  }
  if (!blockedBy(cur, req)) {
    const next = grant(cur, req);
    return typeof next === 'string' ? { state: 'failed', errno: next } : { state: 'granted', file: next };
  }
  if (!wait) return { state: 'failed', errno: 'EAGAIN' };
  if (cur.waiters.length >= LOCK_WAITERS_PER_FILE_MAX) return { state: 'failed', errno: 'ENOLCK' };
  return { state: 'queued', file: { ...cur, waiters: [...cur.waiters, { id, req }] } };
}

export interface WakeResult {
  file: FileLocks;
  /** With the holder's locks over the range just before the grant, to undo it if the waiter gave up. */
  granted: { waiter: Waiter; prior: RangeLock[] }[];
  failed: { waiter: Waiter; errno: Errno }[];
}

/**
 * Grants every waiter the fairness rule now allows, in queue order, in one pass: granting only adds
 * locks, so a waiter skipped earlier in the pass cannot have become grantable later in it.
 */
export function wake(f: FileLocks): WakeResult {
  let cur = f;
  const granted: WakeResult['granted'] = [];
  const failed: { waiter: Waiter; errno: Errno }[] = [];
  for (let i = 0; i < cur.waiters.length;) {
    const w = cur.waiters[i]!;
    if (blockedBy(cur, w.req, i)) {
      i++;
      continue;
    }
    const rest = cur.waiters.filter((_, j) => j !== i);
    const prior = heldIn(cur, w.req.kind, w.req, w.req.start, w.req.end);
    const next = grant({ ...cur, waiters: rest }, w.req);
    if (typeof next === 'string') {
      cur = { ...cur, waiters: rest };
      failed.push({ waiter: w, errno: next });
    } else {
      cur = next;
      granted.push({ waiter: w, prior });
    }
  }
  return { file: cur, granted, failed };
}

/** Removes waiter `id` (cancelled, or its session ended); the caller wakes the rest afterwards. */
export function dropWaiter(f: FileLocks, id: number): FileLocks {
  return { ...f, waiters: f.waiters.filter((w) => w.id !== id) };
}

/** Everything a session holds or waits for on this file is gone (session close or lease expiry). */
export function dropSession(f: FileLocks, session: string): FileLocks {
  return {
    posix: f.posix.filter((l) => l.session !== session),
    flock: f.flock.filter((l) => l.session !== session),
    waiters: f.waiters.filter((w) => w.req.session !== session),
  };
}

/** Locks plus queued waiters per session: what counts against LOCKS_PER_SESSION_MAX. */
export function countBySession(f: FileLocks): Map<string, number> {
  const m = new Map<string, number>();
  const add = (s: string) => m.set(s, (m.get(s) ?? 0) + 1);
  for (const l of f.posix) add(l.session);
  for (const l of f.flock) add(l.session);
  for (const w of f.waiters) add(w.req.session);
  return m;
}

/** The holder's locks of one family overlapping [start, end], as they are (kept to undo a grant). */
export function heldIn(f: FileLocks, kind: LockKind, h: Holder, start: number, end: number): RangeLock[] {
  return listOf(f, kind).filter((l) => sameHolder(l, h) && overlaps(l, { start, end }));
}

/**
 * Undoes a grant whose waiter gave up (EINTR) after it was granted: the holder's locks over the
 * range go back to `prior`, what they were just before the grant.
 */
export function restore(f: FileLocks, req: LockReq, prior: RangeLock[]): FileLocks {
  let list = setRange(listOf(f, req.kind), req, 'u', req.start, req.end, 0);
  for (const p of prior) {
    const s = Math.max(p.start, req.start), e = Math.min(p.end, req.end);
    if (s <= e) list = setRange(list, req, p.type, s, e, p.pid);
  }
  return withList(f, req.kind, list);
}
