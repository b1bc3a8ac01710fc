import { setidDropped } from '../../../shared/privs.js';
import type { Cred } from '../../../shared/types.js';
import { K } from '../keys.js';
import type { InodeRec } from '../records.js';
import type { Tx } from '../tx.js';

/**
 * What a write, a truncate or a chown takes from a file, as Linux's VFS does: setuid and setgid by
 * shared/privs.ts's rule, and the file capabilities (the security.capability xattr). Mounts negotiate
 * FUSE_HANDLE_KILLPRIV_V2, so the kernel leaves this to the file system instead of asking for
 * capabilities before every write (client/fuse/BINDING.md). Directories keep theirs. Root counts as
 * holding CAP_FSETID: only chown takes from root's files, and only then.
 */
export async function dropPrivs(tx: Tx, rec: InodeRec, cred: Cred): Promise<void> {
  if (rec.type === 'dir') return;
  dropSetid(rec, cred);
  await dropCaps(tx, rec.ino);
}

export function dropSetid(rec: InodeRec, cred: Cred): void {
  rec.mode &= ~setidDropped(rec.mode, rec.gid, cred);
}

/** File capabilities go with any change of the file's bytes or owner, whoever makes it. */
export async function dropCaps(tx: Tx, ino: number): Promise<void> {
  const key = K.xattr(ino, 'security.capability');
  if (await tx.get(key)) tx.del(key);
}
