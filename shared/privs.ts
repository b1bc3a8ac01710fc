import { S_ISGID, S_ISUID, S_IXGRP, type Cred } from './types.js';

/**
 * The setuid/setgid bits that a write, truncate or chown by `cred` takes from a file of `mode` owned
 * by group `gid`, as Linux's VFS decides (setattr_should_drop_sgid): setuid always; setgid when
 * group-execute is set (without it setgid marks mandatory locking, not a privilege) or when the
 * caller is outside the file's group. Root stands for CAP_FSETID. The client asks before a write
 * (client/vfs/perms.ts holdsPrivs); the state machine applies it (storagenode/meta/ops/privs.ts).
 */
export function setidDropped(mode: number, gid: number, cred: Cred): number {
  let drop = mode & S_ISUID;
  if (mode & S_ISGID && (mode & S_IXGRP || (cred.uid !== 0 && cred.gid !== gid && !cred.groups.includes(gid)))) drop |= S_ISGID;
  return drop;
}
