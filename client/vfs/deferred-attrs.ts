import { ATTR_CHANGES_MAX, type OpArgs } from '../../shared/protocol/ops.js';
import { applyAttrChange } from '../../shared/attr-change.js';
import type { Time } from '../../shared/time.js';
import { S_ISGID, type Attr } from '../../shared/types.js';
import { inGroup, mayAccess, W_OK } from './perms.js';

/**
 * chmod, chown and utimens of a file this mount is writing wait for the commit of its buffered
 * writes and ride on it (commitWrite `attrs`): tar, cp -p and rsync set times, owner and mode after
 * writing a file and before closing it, and each would otherwise be a quorum commit of its own
 * (docs/perf-meta.md, "Session 13"). Until then this mount shows the file with them applied
 * (Files.effective), and everything that could tell the difference waits for them (Vfs: open, link,
 * unlink, rename, xattrs; a write commits them first, so they stay ordered after the data before them).
 * Other mounts see them at the close, as they see the data (close-to-open), or DEFER_ATTRS_MS after
 * they were made if the file stays open that long; strict mounts defer nothing.
 */
export type AttrChange = NonNullable<OpArgs<'commitWrite'>['attrs']>[number];

/**
 * How long a deferred change may wait for its file's flush before it is committed anyway: the most
 * another mount lags behind it (beside the pushes' milliseconds, docs/decisions.md). tar closes each
 * file within a millisecond or two of its fchmod.
 */
export const DEFER_ATTRS_MS = 1000;

/** Changes one file may hold before the next of them commits what it holds first. */
export const DEFERRED_MAX = ATTR_CHANGES_MAX;

const isSet = (t: AttrChange['atime']): boolean => t !== undefined;

/**
 * Whether the cluster is sure to accept `c` on a file with attributes `a` (storagenode/meta/ops/attrs.ts
 * decides it again at the commit): root's changes; the owner's chmod (unless it asks for setgid, which
 * may be taken away), utimens, and chown that keeps the owner and gives a group the owner is in (cp -p
 * makes one); 'now' times by anyone who may write. Others are sent at once, so their errors reach the
 * caller.
 */
export function mayDefer(a: Attr, c: AttrChange): boolean {
  const { cred } = c;
  if (a.type !== 'file') return false;
  if (cred.uid === 0) return true;
  const owner = cred.uid === a.uid;
  const chown = c.uid !== undefined || c.gid !== undefined;
  if (chown && !(owner && (c.uid === undefined || c.uid === a.uid) && (c.gid === undefined || c.gid === a.gid || inGroup(cred, c.gid)))) return false;
  if (c.killPriv && !chown) return false; // taken before a write, which would commit it at once anyway
  if (c.mode !== undefined && (!owner || c.mode & S_ISGID)) return false;
  const explicit = (isSet(c.atime) && c.atime !== 'now') || (isSet(c.mtime) && c.mtime !== 'now');
  if (explicit && !owner) return false;
  if ((isSet(c.atime) || isSet(c.mtime)) && !owner && !mayAccess(a, cred, W_OK)) return false;
  return true;
}

/** `a` after `c`, as the state machine applies it (shared/attr-change.ts). */
export function applyChange(a: Attr, c: AttrChange, now: Time): Attr {
  const out = { ...a };
  applyAttrChange(out, c, now);
  return out;
}
