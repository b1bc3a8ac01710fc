import { fail, ok, type Errno } from '../../../shared/errno.js';
import type { OpArgs, OpResults } from '../../../shared/protocol/ops.js';
import { S_IFMT, S_ISGID, S_ISUID, type Cred } from '../../../shared/types.js';
import { toAttr, type InodeRec } from '../records.js';
import type { Tx } from '../tx.js';
import { allowed, inGroup, isOwner, loadInode, W_OK, type Res } from './common.js';
import { truncateTo } from './data.js';
import { carrying } from './carried.js';
import { dropPrivs } from './privs.js';
import { checkTimes, setTimes } from './times.js';

type Args = OpArgs<'setattr'>;

/** chmod: owner or root; a non-root caller outside the file's group cannot set setgid. */
function checkChmod(rec: InodeRec, cred: Cred, mode: number): Errno | number {
  if (!isOwner(rec, cred)) return 'EPERM';
  let m = mode & 0o7777;
  if (cred.uid !== 0 && m & S_ISGID && !inGroup(cred, rec.gid)) m &= ~S_ISGID;
  return m;
}

/**
 * chown: only root changes the owner; the owner may change the group to one it belongs to. Linux
 * lets a no-op chown through for the owner.
 */
function checkChown(rec: InodeRec, cred: Cred, uid: number | undefined, gid: number | undefined): Errno | undefined {
  if (cred.uid === 0) return undefined;
  if (uid !== undefined && uid !== rec.uid) return 'EPERM';
  if (gid !== undefined && gid !== rec.gid && (cred.uid !== rec.uid || !inGroup(cred, gid))) return 'EPERM';
  if ((uid !== undefined || gid !== undefined) && cred.uid !== rec.uid) return 'EPERM';
  return undefined;
}

function checkSize(rec: InodeRec, cred: Cred): Errno | undefined {
  if (rec.type === 'dir') return 'EISDIR';
  if (rec.type !== 'file') return 'EINVAL';
  return allowed(rec, cred, W_OK) ? undefined : 'EACCES';
}

function applyOwnership(rec: InodeRec, cred: Cred, a: Args): void {
  if (a.uid === undefined && a.gid === undefined) return;
  if (a.uid !== undefined) rec.uid = a.uid;
  if (a.gid !== undefined) rec.gid = a.gid;
  // A non-root chown of a non-directory drops setuid/setgid, so ownership cannot be laundered.
  if (cred.uid !== 0 && rec.type !== 'dir') rec.mode &= ~(S_ISUID | S_ISGID);
}

async function setattrOp(tx: Tx, a: Args): Res<OpResults['setattr']> {
  const r = await loadInode(tx, a.ino);
  if (!r.ok) return r;
  const rec = r.value;
  let mode: number | undefined;
  if (a.mode !== undefined) {
    const m = checkChmod(rec, a.cred, a.mode);
    if (typeof m === 'string') return fail(m);
    mode = m;
  }
  const bad = checkChown(rec, a.cred, a.uid, a.gid) ?? checkTimes(rec, a.cred, a) ??
    (a.size !== undefined ? checkSize(rec, a.cred) : undefined);
  if (bad) return fail(bad);

  if (mode !== undefined) rec.mode = (rec.mode & S_IFMT) | mode;
  applyOwnership(rec, a.cred, a);
  if (a.size !== undefined && a.size !== rec.size) await truncateTo(tx, rec, a.size);
  else if (a.size !== undefined) rec.mtime = tx.now; // POSIX: truncate to the same size still updates times
  // Needs no right of its own: it only takes privileges away (the kernel forces it the same way).
  if (a.killPriv) await dropPrivs(tx, rec, a.cred);
  setTimes(rec, a, tx.now);
  rec.ctime = tx.now;
  tx.putInode(rec);
  return ok(toAttr(rec));
}

/** The handlers as apply.ts runs them: each may carry the session's queued closes (ops/carried.ts). */
export const setattr = carrying(setattrOp);
