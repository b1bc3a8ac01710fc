import { fail, ok } from '../../../shared/errno.js';
import type { OpArgs } from '../../../shared/protocol/ops.js';
import type { KvReader } from '../kv.js';
import type { InodeRec } from '../records.js';
import { readInode, resolveName } from '../resolve.js';
import { allowed, R_OK, W_OK, type Res } from './common.js';

export const O_ACCMODE = 3, O_WRONLY = 1, O_RDWR = 2, O_TRUNC = 0o1000;

/** Whether open flags ask for writing. */
export function forWriting(flags: number): boolean {
  const acc = flags & O_ACCMODE;
  return acc === O_WRONLY || acc === O_RDWR;
}

/** The inode an open names: by number, or by (parent, name), which saves the client a lookup first. */
async function openTarget(kv: KvReader, a: OpArgs<'openRead'>): Res<number> {
  if (a.ino !== undefined) return ok(a.ino);
  if (a.parent === undefined || a.name === undefined) return fail('EINVAL');
  return resolveName(kv, a.parent, a.name);
}

/**
 * What `open` and `openRead` both check: the target exists and is named, and the caller's credentials
 * allow the access mode. Reads through a Tx see its own writes, so the open entry checks the state it
 * changes; `openRead` (`readOnly`: no writing, no O_TRUNC) checks the leader's applied state after a
 * read barrier.
 */
export async function openable(kv: KvReader, a: OpArgs<'openRead'>, readOnly = false): Res<InodeRec> {
  if (readOnly && a.flags & O_TRUNC) return fail('EINVAL');
  const ino = await openTarget(kv, a);
  if (!ino.ok) return ino;
  const rec = await readInode(kv, ino.value);
  if (!rec) return fail('ENOENT');
  if (rec.nlink === 0) return fail('ENOENT');
  const acc = a.flags & O_ACCMODE;
  const mask = acc === O_WRONLY ? W_OK : acc === O_RDWR ? R_OK | W_OK : R_OK;
  if (mask & W_OK && readOnly) return fail('EINVAL');
  if (rec.type === 'dir' && mask & W_OK) return fail('EISDIR');
  if (!allowed(rec, a.cred, mask)) return fail('EACCES');
  return ok(rec);
}
