import type { Errno } from '../../../shared/errno.js';
import type { OpArgs } from '../../../shared/protocol/ops.js';
import { applyAttrChange } from '../../../shared/attr-change.js';
import { S_ISGID, type Cred } from '../../../shared/types.js';
import type { InodeRec } from '../records.js';
import type { Tx } from '../tx.js';
import { inGroup, isOwner } from './common.js';
import { dropCaps } from './privs.js';
import { checkTimes } from './times.js';

/**
 * chmod, chown and utimens: their rules and their effect on an inode record. setattr runs one
 * (ops/setattr.ts, with a size as well); commitWrite runs those its `attrs` carry (ops/data.ts).
 */

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

/** What setattr changes besides the size; commitWrite's `attrs` carry the same (ops/data.ts). */
export type AttrChange = Omit<OpArgs<'setattr'>, 'ino' | 'size' | 'session' | 'seq' | 'releases' | 'opens'>;

/** The chmod's mode after its rules (setgid may go), or the errno that refuses the change. */
export function checkChange(rec: InodeRec, a: AttrChange): Errno | { mode?: number } {
  let mode: number | undefined;
  if (a.mode !== undefined) {
    const m = checkChmod(rec, a.cred, a.mode);
    if (typeof m === 'string') return m;
    mode = m;
  }
  return checkChown(rec, a.cred, a.uid, a.gid) ?? checkTimes(rec, a.cred, a) ?? { mode };
}

export async function applyChange(tx: Tx, rec: InodeRec, a: AttrChange, mode: number | undefined): Promise<void> {
  applyAttrChange(rec, { ...a, mode }, tx.now);
  // Needs no right of its own: it only takes privileges away (the kernel forces it the same way).
  if (a.killPriv && rec.type !== 'dir') await dropCaps(tx, rec.ino);
}

/** One chmod/chown/utimens on `rec` (not stored): the errno that refuses it, or undefined once applied. */
export async function changeAttrs(tx: Tx, rec: InodeRec, a: AttrChange): Promise<Errno | undefined> {
  const c = checkChange(rec, a);
  if (typeof c === 'string') return c;
  await applyChange(tx, rec, a, c.mode);
  return undefined;
}

