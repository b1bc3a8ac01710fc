import { setidDropped } from './privs.js';
import type { Time } from './time.js';
import { S_IFMT, S_ISGID, S_ISUID, type Cred, type FileType } from './types.js';

/** A chmod, chown or utimens as setattr and commitWrite `attrs` carry it (modes already checked). */
export interface AttrChangeOf {
  cred: Cred;
  mode?: number | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
  atime?: Time | 'now' | undefined;
  mtime?: Time | 'now' | undefined;
  killPriv?: boolean | undefined;
}

/** The fields of an inode (a record on a node, an Attr on a client) that such a change moves. */
export interface ChangedFields {
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  atime: Time;
  mtime: Time;
  ctime: Time;
}

const pick = (t: Time | 'now' | undefined, now: Time, old: Time): Time => (t === undefined ? old : t === 'now' ? now : t);

/**
 * Applies `c` to `x` in place, as the state machine does (storagenode/meta/ops/attrs.ts) and as a
 * client shows a change it holds back (client/vfs/deferred-attrs.ts): mode, then owner (a non-root
 * chown of a non-directory takes setuid/setgid, so ownership cannot be laundered), then `killPriv`'s
 * setuid/setgid (shared/privs.ts; file capabilities are the node's to drop), then times; ctime is now.
 */
export function applyAttrChange(x: ChangedFields, c: AttrChangeOf, now: Time): void {
  if (c.mode !== undefined) x.mode = (x.mode & S_IFMT) | (c.mode & 0o7777);
  if (c.uid !== undefined || c.gid !== undefined) {
    if (c.uid !== undefined) x.uid = c.uid;
    if (c.gid !== undefined) x.gid = c.gid;
    if (c.cred.uid !== 0 && x.type !== 'dir') x.mode &= ~(S_ISUID | S_ISGID);
  }
  if (c.killPriv && x.type !== 'dir') x.mode &= ~setidDropped(x.mode, x.gid, c.cred);
  x.atime = pick(c.atime, now, x.atime);
  x.mtime = pick(c.mtime, now, x.mtime);
  x.ctime = now;
}
