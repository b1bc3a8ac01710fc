import { S_ISGID, S_ISUID, S_IXGRP, type Cred } from '../../../shared/types.js';
import { K } from '../keys.js';
import type { InodeRec } from '../records.js';
import type { Tx } from '../tx.js';
import { inGroup } from './common.js';

/**
 * What a write, a truncate or a chown takes from a file, as Linux's VFS does (setattr_should_drop_sgid):
 * setuid; setgid when group-execute is set (without it setgid marks mandatory locking, not a privilege)
 * or when the caller is outside the file's group; and the file capabilities (the security.capability
 * xattr). Mounts negotiate FUSE_HANDLE_KILLPRIV_V2, so the kernel leaves this to the file system
 * instead of asking for capabilities before every write (client/fuse/BINDING.md). Directories keep
 * theirs. Root counts as holding CAP_FSETID: only chown takes from root's files, and only then.
 */
export async function dropPrivs(tx: Tx, rec: InodeRec, cred: Cred): Promise<void> {
  if (rec.type === 'dir') return;
  dropSetid(rec, cred);
  await dropCaps(tx, rec.ino);
}

export function dropSetid(rec: InodeRec, cred: Cred): void {
  rec.mode &= ~S_ISUID;
  if (rec.mode & S_IXGRP || (cred.uid !== 0 && !inGroup(cred, rec.gid))) rec.mode &= ~S_ISGID;
}

/** File capabilities go with any change of the file's bytes or owner, whoever makes it. */
export async function dropCaps(tx: Tx, ino: number): Promise<void> {
  const key = K.xattr(ino, 'security.capability');
  if (await tx.get(key)) tx.del(key);
}
