import { FsError } from '../../shared/errno.js';
import { setidDropped } from '../../shared/privs.js';
import type { Attr, Cred } from '../../shared/types.js';

export const R_OK = 4;
export const W_OK = 2;
export const X_OK = 1;

/** Linux open(2) flags that reach a FUSE file system. */
export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;

/** The rwx mask an open with these flags needs. */
export function accessMaskOfFlags(flags: number): number {
  const acc = flags & O_ACCMODE;
  let mask = acc === O_RDONLY ? R_OK : acc === O_WRONLY ? W_OK : R_OK | W_OK;
  if (flags & O_TRUNC) mask |= W_OK;
  return mask;
}

/**
 * POSIX permission check as generic_permission does it (without ACLs): root passes everything except
 * execute on a file with no x bit at all; otherwise the owner, group (primary or supplementary) or
 * other class decides alone.
 */
export function mayAccess(attr: Attr, cred: Cred, mask: number): boolean {
  const perm = attr.mode & 0o777;
  if (cred.uid === 0) {
    if (!(mask & X_OK) || attr.type === 'dir') return true;
    return (perm & 0o111) !== 0;
  }
  let bits: number;
  if (cred.uid === attr.uid) bits = perm >> 6;
  else if (inGroup(cred, attr.gid)) bits = perm >> 3;
  else bits = perm;
  return (bits & mask & 7) === (mask & 7);
}

export function inGroup(cred: Cred, gid: number): boolean {
  return cred.gid === gid || cred.groups.includes(gid);
}

/** open(2)'s O_DIRECTORY and O_NOFOLLOW refusals (throws FsError). */
export function checkOpenType(attr: Attr, flags: number): void {
  if (flags & O_DIRECTORY && attr.type !== 'dir') throw new FsError('ENOTDIR');
  if (flags & O_NOFOLLOW && attr.type === 'symlink') throw new FsError('ELOOP');
}

/** Whether a write or truncate by `cred` (not root) would take something from the file (storagenode/meta/ops/privs.ts). */
export function holdsPrivs(a: Attr, cred: Cred): boolean {
  return a.type !== 'dir' && setidDropped(a.mode, a.gid, cred) !== 0;
}
