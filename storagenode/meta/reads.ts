import { fail, ok, type FsResult } from '../../shared/errno.js';
import { READDIR_ENTRIES_MAX } from '../../shared/limits.js';
import type { MetaReadOp, OpArgs, OpResults } from '../../shared/protocol/ops.js';
import type { DirEntry } from '../../shared/types.js';
import { K, nameOfKey } from './keys.js';
import { prefixEnd, type KvReader } from './kv.js';
import { unpackChunk } from './chunk-codec.js';
import { toAttr, unpack, type EntryRec } from './records.js';
import { readInode, resolveName } from './resolve.js';
import { checkXattrName } from './ops/xattr.js';
import { openable } from './ops/openable.js';

type Res<O extends MetaReadOp> = Promise<FsResult<OpResults[O]>>;

async function lookup(kv: KvReader, a: OpArgs<'lookup'>): Res<'lookup'> {
  const ino = await resolveName(kv, a.parent, a.name);
  if (!ino.ok) return ino;
  const rec = await readInode(kv, ino.value);
  return rec ? ok(toAttr(rec)) : fail('ENOENT');
}

async function getattr(kv: KvReader, a: OpArgs<'getattr'>): Res<'getattr'> {
  const rec = await readInode(kv, a.ino);
  return rec ? ok(toAttr(rec)) : fail('ENOENT');
}

async function readdir(kv: KvReader, a: OpArgs<'readdir'>): Res<'readdir'> {
  const dir = await readInode(kv, a.ino);
  if (!dir) return fail('ENOENT');
  if (dir.type !== 'dir') return fail('ENOTDIR');
  const limit = Math.min(a.limit ?? READDIR_ENTRIES_MAX, READDIR_ENTRIES_MAX);
  const prefix = K.entryPrefix(a.ino);
  const from = a.after !== undefined ? { gt: K.entry(a.ino, a.after) } : { gte: prefix };
  const entries: DirEntry[] = [];
  let more = false;
  for await (const [key, value] of kv.range({ ...from, lt: prefixEnd(prefix), limit: limit + 1 })) {
    if (entries.length === limit) { more = true; break; }
    const e = unpack<EntryRec>(value);
    entries.push({ name: nameOfKey(key), ino: e.ino, type: e.type });
  }
  return ok({ entries, more });
}

async function readlink(kv: KvReader, a: OpArgs<'readlink'>): Res<'readlink'> {
  const rec = await readInode(kv, a.ino);
  if (!rec) return fail('ENOENT');
  if (rec.type !== 'symlink' || rec.target === undefined) return fail('EINVAL');
  return ok({ target: rec.target });
}

async function getxattr(kv: KvReader, a: OpArgs<'getxattr'>): Res<'getxattr'> {
  if (!(await readInode(kv, a.ino))) return fail('ENOENT');
  const bad = checkXattrName(a.name);
  if (bad) return fail(bad);
  const v = await kv.get(K.xattr(a.ino, a.name));
  return v ? ok({ value: v }) : fail('ENODATA');
}

async function listxattr(kv: KvReader, a: OpArgs<'listxattr'>): Res<'listxattr'> {
  if (!(await readInode(kv, a.ino))) return fail('ENOENT');
  const names: string[] = [];
  const p = K.xattrPrefix(a.ino);
  for await (const [key] of kv.range({ gte: p, lt: prefixEnd(p) })) names.push(nameOfKey(key));
  return ok({ names });
}

async function readChunk(kv: KvReader, a: OpArgs<'readChunk'>): Res<'readChunk'> {
  const rec = await readInode(kv, a.ino);
  if (!rec) return fail('ENOENT');
  if (rec.type === 'dir') return fail('EISDIR');
  if (rec.type !== 'file') return fail('EINVAL');
  const b = await kv.get(K.chunk(a.ino, a.chunk));
  return ok({ slices: b ? unpackChunk(b) : [], size: rec.size, version: rec.version });
}

/** A read-only open with nothing to write: the client registers it later (ops/carried.ts `opens`). */
async function openRead(kv: KvReader, a: OpArgs<'openRead'>): Res<'openRead'> {
  const r = await openable(kv, a, true);
  return r.ok ? ok(toAttr(r.value)) : r;
}

/** statfs needs the node's capacity, which the node adds; here it is only the namespace's share. */
async function statfs(): Res<'statfs'> {
  return fail('ENOSYS');
}

const READS: { [O in MetaReadOp]: (kv: KvReader, a: OpArgs<O>) => Res<O> } = {
  lookup, getattr, readdir, readlink, getxattr, listxattr, readChunk, statfs, openRead,
};

export function runQuery<O extends MetaReadOp>(kv: KvReader, op: O, args: OpArgs<O>): Res<O> {
  return (READS[op] as (kv: KvReader, a: OpArgs<O>) => Res<O>)(kv, args);
}
