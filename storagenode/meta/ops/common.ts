import { fail, ok, type Errno, type FsResult } from '../../../shared/errno.js';
import { NAME_BYTES_MAX } from '../../../shared/limits.js';
import { compareTime, type Time } from '../../../shared/time.js';
import { S_ISVTX, type Cred } from '../../../shared/types.js';
import { K } from '../keys.js';
import type { InodeRec, SessionRec } from '../records.js';
import type { Tx } from '../tx.js';

export type Res<T> = Promise<FsResult<T>>;
export const R_OK = 4, W_OK = 2, X_OK = 1;

/** A session is live until its lease lapses; `now` is the proposing leader's clock. */
export async function liveSession(tx: Tx, id: string, now: Time): Promise<SessionRec | undefined> {
  const s = await tx.getVal<SessionRec>(K.session(id));
  return s && compareTime(s.expires, now) >= 0 ? s : undefined;
}

/** '' '.' '..' and names with '/' or NUL are never entries; long names are ENAMETOOLONG. */
export function checkName(name: string): Errno | undefined {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) return 'EINVAL';
  if (Buffer.byteLength(name, 'utf8') > NAME_BYTES_MAX) return 'ENAMETOOLONG';
  return undefined;
}

/** Root, or the file's owner: who may chmod, and set explicit times. */
export function isOwner(rec: InodeRec, cred: Cred): boolean {
  return cred.uid === 0 || cred.uid === rec.uid;
}

export function inGroup(cred: Cred, gid: number): boolean {
  return cred.gid === gid || cred.groups.includes(gid);
}

/**
 * The classic owner/group/other check. Root passes everything except execute on a non-directory
 * with no execute bit at all. The kernel checks first (default_permissions); this is the second line.
 */
export function allowed(ino: InodeRec, cred: Cred, mask: number): boolean {
  if (cred.uid === 0) return !(mask & X_OK) || ino.type === 'dir' || (ino.mode & 0o111) !== 0;
  const bits = cred.uid === ino.uid ? (ino.mode >> 6) & 7 : inGroup(cred, ino.gid) ? (ino.mode >> 3) & 7 : ino.mode & 7;
  return (bits & mask) === mask;
}

/** In a sticky directory only the file's owner, the directory's owner or root may remove or rename. */
export function stickyAllows(dir: InodeRec, victim: InodeRec, cred: Cred): boolean {
  if (!(dir.mode & S_ISVTX)) return true;
  return cred.uid === 0 || cred.uid === dir.uid || cred.uid === victim.uid;
}

export async function loadInode(tx: Tx, ino: number): Res<InodeRec> {
  const rec = await tx.getInode(ino);
  return rec ? ok(rec) : fail('ENOENT');
}

export async function loadDir(tx: Tx, ino: number): Res<InodeRec> {
  const rec = await tx.getInode(ino);
  if (!rec) return fail('ENOENT');
  if (rec.type !== 'dir') return fail('ENOTDIR');
  return ok(rec);
}

/** Parent of a namespace change: exists, is a directory, and the caller may write and search it. */
export async function writableDir(tx: Tx, ino: number, cred: Cred): Res<InodeRec> {
  const dir = await loadDir(tx, ino);
  if (!dir.ok) return dir;
  if (!allowed(dir.value, cred, W_OK | X_OK)) return fail('EACCES');
  return dir;
}

/** A directory's entries changed: mtime and ctime move to now. */
export function touch(rec: InodeRec, now: Time): void {
  rec.mtime = now;
  rec.ctime = now;
}

export function timeAddMs(t: Time, ms: number): Time {
  const ns = t[1] + (ms % 1000) * 1e6;
  return [t[0] + Math.floor(ms / 1000) + Math.floor(ns / 1e9), ns % 1e9];
}
