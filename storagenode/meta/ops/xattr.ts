import { fail, ok, type Errno } from '../../../shared/errno.js';
import { XATTR_LIST_BYTES_MAX, XATTR_NAME_BYTES_MAX, XATTR_VALUE_BYTES_MAX } from '../../../shared/limits.js';
import { XATTR_CREATE, XATTR_REPLACE, type OpArgs, type OpResults } from '../../../shared/protocol/ops.js';
import type { Cred } from '../../../shared/types.js';
import { K, nameOfKey } from '../keys.js';
import type { InodeRec } from '../records.js';
import type { Tx } from '../tx.js';
import { allowed, loadInode, W_OK, type Res } from './common.js';

export function checkXattrName(name: string): Errno | undefined {
  if (name === '' || name.includes('\0')) return 'EINVAL';
  if (Buffer.byteLength(name, 'utf8') > XATTR_NAME_BYTES_MAX) return 'ERANGE';
  return undefined;
}

/** trusted.* and security.* belong to root; user.* follows the file's write permission, as on Linux. */
function mayWrite(rec: InodeRec, cred: Cred, name: string): Errno | undefined {
  if (cred.uid === 0) return undefined;
  if (name.startsWith('trusted.') || name.startsWith('security.')) return 'EPERM';
  if (name.startsWith('user.') && rec.type !== 'file' && rec.type !== 'dir') return 'EPERM';
  return allowed(rec, cred, W_OK) ? undefined : 'EACCES';
}

async function listBytes(tx: Tx, ino: number, without: string): Promise<number> {
  let n = 0;
  for await (const [key] of tx.prefix(K.xattrPrefix(ino))) {
    const name = nameOfKey(key);
    if (name !== without) n += Buffer.byteLength(name, 'utf8') + 1;
  }
  return n;
}

export async function setxattr(tx: Tx, a: OpArgs<'setxattr'>): Res<OpResults['setxattr']> {
  const r = await loadInode(tx, a.ino);
  if (!r.ok) return r;
  const bad = checkXattrName(a.name) ?? (a.value.byteLength > XATTR_VALUE_BYTES_MAX ? 'E2BIG' : undefined) ??
    ((a.flags & 3) === 3 ? 'EINVAL' : undefined) ?? mayWrite(r.value, a.cred, a.name);
  if (bad) return fail(bad);
  const exists = (await tx.get(K.xattr(a.ino, a.name))) !== undefined;
  if (a.flags & XATTR_CREATE && exists) return fail('EEXIST');
  if (a.flags & XATTR_REPLACE && !exists) return fail('ENODATA');
  if (!exists && (await listBytes(tx, a.ino, a.name)) + Buffer.byteLength(a.name, 'utf8') + 1 > XATTR_LIST_BYTES_MAX) {
    return fail('ENOSPC');
  }
  tx.put(K.xattr(a.ino, a.name), Buffer.from(a.value));
  r.value.ctime = tx.now;
  tx.putInode(r.value);
  return ok({});
}

export async function removexattr(tx: Tx, a: OpArgs<'removexattr'>): Res<OpResults['removexattr']> {
  const r = await loadInode(tx, a.ino);
  if (!r.ok) return r;
  const bad = checkXattrName(a.name) ?? mayWrite(r.value, a.cred, a.name);
  if (bad) return fail(bad);
  if ((await tx.get(K.xattr(a.ino, a.name))) === undefined) return fail('ENODATA');
  tx.del(K.xattr(a.ino, a.name));
  r.value.ctime = tx.now;
  tx.putInode(r.value);
  return ok({});
}
