import { fail, ok, type FsResult } from '../../shared/errno.js';
import { K } from './keys.js';
import type { KvReader } from './kv.js';
import { unpack, type EntryRec, type InodeRec } from './records.js';
import { checkName } from './ops/common.js';

/** An inode record from any reader: the store after a read barrier, or a Tx (which sees its own writes). */
export async function readInode(kv: KvReader, ino: number): Promise<InodeRec | undefined> {
  const b = await kv.get(K.inode(ino));
  return b && unpack<InodeRec>(b);
}

/**
 * The inode `name` in directory `parent` names, with lookup's errors: ENOENT for a missing parent or
 * name, ENOTDIR, ENAMETOOLONG. '.' and '..' are the client's to resolve; they are never entries.
 */
export async function resolveName(kv: KvReader, parent: number, name: string): Promise<FsResult<number>> {
  const dir = await readInode(kv, parent);
  if (!dir) return fail('ENOENT');
  if (dir.type !== 'dir') return fail('ENOTDIR');
  const bad = checkName(name);
  if (bad) return fail(bad === 'ENAMETOOLONG' ? bad : 'ENOENT');
  const e = await kv.get(K.entry(parent, name));
  return e ? ok(unpack<EntryRec>(e).ino) : fail('ENOENT');
}
