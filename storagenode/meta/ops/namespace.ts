import { fail, ok } from '../../../shared/errno.js';
import { LINK_COUNT_MAX, SYMLINK_BYTES_MAX } from '../../../shared/limits.js';
import type { OpArgs, OpResults } from '../../../shared/protocol/ops.js';
import {
  fileTypeOfMode, S_IFLNK, S_ISGID, typeBits, type Cred, type FileType,
} from '../../../shared/types.js';
import { K } from '../keys.js';
import { toAttr, type InodeRec } from '../records.js';
import type { Tx } from '../tx.js';
import { checkName, inGroup, loadInode, stickyAllows, touch, writableDir, type Res } from './common.js';
import { deleteInode, dropLink } from './lifecycle.js';
import { carrying, registerOpen } from './carried.js';

/** Checks shared by every op that adds a name: parent, name, permission, not taken. */
async function prepareCreate(tx: Tx, parent: number, name: string, cred: Cred): Res<InodeRec> {
  const dir = await writableDir(tx, parent, cred);
  if (!dir.ok) return dir;
  const bad = checkName(name);
  if (bad) return fail(bad);
  if (await tx.getEntry(parent, name)) return fail('EEXIST');
  return dir;
}

interface NewInode {
  type: FileType;
  perm: number; // permission bits incl. setuid/setgid/sticky
  rdev: number;
  cred: Cred;
  target?: string;
}

/** Allocates the inode, names it in `dir`, and applies the setgid-directory inheritance rules. */
async function createInode(tx: Tx, dir: InodeRec, name: string, n: NewInode): Promise<InodeRec> {
  const ino = await tx.allocIno();
  let perm = n.perm & 0o7777;
  let gid = n.cred.gid;
  if (dir.mode & S_ISGID) {
    gid = dir.gid; // BSD group semantics inside setgid directories
    if (n.type === 'dir') perm |= S_ISGID;
  }
  if (n.type !== 'dir' && perm & S_ISGID && perm & 0o010 && n.cred.uid !== 0 && !inGroup(n.cred, gid)) perm &= ~S_ISGID;
  const now = tx.now;
  const rec: InodeRec = {
    ino, type: n.type, mode: typeBits(n.type) | perm, uid: n.cred.uid, gid, nlink: n.type === 'dir' ? 2 : 1,
    size: n.target !== undefined ? Buffer.byteLength(n.target, 'utf8') : 0, rdev: n.rdev,
    atime: now, mtime: now, ctime: now, version: 0,
  };
  if (n.target !== undefined) rec.target = n.target;
  // Known to be 0: without it the file's first commit would sum its chunks (ops/alloc.ts ensureAlloc),
  // a store scan (a LevelDB iterator on every replica) that can only find none.
  if (n.type === 'file') rec.alloc = 0;
  if (n.type === 'dir') {
    rec.parent = dir.ino;
    dir.nlink++;
  }
  touch(dir, now);
  tx.putInode(rec);
  tx.putInode(dir);
  tx.putVal(K.entry(dir.ino, name), { ino, type: n.type });
  return rec;
}

async function mknodOp(tx: Tx, a: OpArgs<'mknod'>): Res<OpResults['mknod']> {
  const type = (a.mode & 0o170000) === 0 ? 'file' : fileTypeOfMode(a.mode);
  if (type === 'dir') return fail('EPERM'); // as Linux: mkdir makes directories
  if (type === undefined || type === 'symlink') return fail('EINVAL');
  const dir = await prepareCreate(tx, a.parent, a.name, a.cred);
  if (!dir.ok) return dir;
  if (a.open && (a.session === undefined || type !== 'file')) return fail('EINVAL');
  const rdev = type === 'chr' || type === 'blk' ? a.rdev : 0;
  const rec = await createInode(tx, dir.value, a.name, { type, perm: a.mode, rdev, cred: a.cred });
  // create(2): the creator's open, in the same entry, so no other mount's unlink can come between.
  if (a.open) await registerOpen(tx, rec.ino, a.session!);
  return ok({ ...toAttr(rec), parentAttr: toAttr(dir.value) });
}

async function mkdirOp(tx: Tx, a: OpArgs<'mkdir'>): Res<OpResults['mkdir']> {
  const dir = await prepareCreate(tx, a.parent, a.name, a.cred);
  if (!dir.ok) return dir;
  if (dir.value.nlink >= LINK_COUNT_MAX) return fail('EMLINK');
  const rec = await createInode(tx, dir.value, a.name, { type: 'dir', perm: a.mode, rdev: 0, cred: a.cred });
  return ok({ ...toAttr(rec), parentAttr: toAttr(dir.value) });
}

async function symlinkOp(tx: Tx, a: OpArgs<'symlink'>): Res<OpResults['symlink']> {
  const dir = await prepareCreate(tx, a.parent, a.name, a.cred);
  if (!dir.ok) return dir;
  if (Buffer.byteLength(a.target, 'utf8') > SYMLINK_BYTES_MAX) return fail('ENAMETOOLONG');
  if (a.target.includes('\0')) return fail('EINVAL');
  const n = { type: 'symlink' as const, perm: 0o777, rdev: 0, cred: a.cred, target: a.target };
  const rec = await createInode(tx, dir.value, a.name, n);
  rec.mode = S_IFLNK | 0o777;
  return ok({ ...toAttr(rec), parentAttr: toAttr(dir.value) });
}

async function linkOp(tx: Tx, a: OpArgs<'link'>): Res<OpResults['link']> {
  const src = await loadInode(tx, a.ino);
  if (!src.ok) return src;
  if (src.value.type === 'dir') return fail('EPERM');
  const dir = await prepareCreate(tx, a.parent, a.name, a.cred);
  if (!dir.ok) return dir;
  if (src.value.nlink === 0) return fail('ENOENT'); // as vfs_link: an open but unlinked file stays nameless
  if (src.value.nlink >= LINK_COUNT_MAX) return fail('EMLINK');
  const rec = src.value;
  rec.nlink++;
  rec.ctime = tx.now;
  touch(dir.value, tx.now);
  tx.putInode(rec);
  tx.putInode(dir.value);
  tx.putVal(K.entry(a.parent, a.name), { ino: rec.ino, type: rec.type });
  return ok({ ...toAttr(rec), parentAttr: toAttr(dir.value) });
}

/** Common to unlink and rmdir: the parent, the name, the entry, and the sticky-directory rule. */
async function prepareRemove(tx: Tx, parent: number, name: string, cred: Cred): Res<{ dir: InodeRec; child: InodeRec }> {
  const dir = await writableDir(tx, parent, cred);
  if (!dir.ok) return dir;
  const bad = checkName(name);
  if (bad) return fail(bad);
  const e = await tx.getEntry(parent, name);
  if (!e) return fail('ENOENT');
  const child = await tx.getInode(e.ino);
  if (!child) return fail('ENOENT');
  if (!stickyAllows(dir.value, child, cred)) return fail('EPERM');
  return ok({ dir: dir.value, child });
}

async function unlinkOp(tx: Tx, a: OpArgs<'unlink'>): Res<OpResults['unlink']> {
  const p = await prepareRemove(tx, a.parent, a.name, a.cred);
  if (!p.ok) return p;
  const { dir, child } = p.value;
  if (child.type === 'dir') return fail('EISDIR');
  tx.del(K.entry(a.parent, a.name));
  touch(dir, tx.now);
  tx.putInode(dir);
  child.nlink--;
  child.ctime = tx.now;
  await dropLink(tx, child);
  return ok({ ino: child.ino, nlink: child.nlink, parentAttr: toAttr(dir) });
}

async function rmdirOp(tx: Tx, a: OpArgs<'rmdir'>): Res<OpResults['rmdir']> {
  const p = await prepareRemove(tx, a.parent, a.name, a.cred);
  if (!p.ok) return p;
  const { dir, child } = p.value;
  if (child.type !== 'dir') return fail('ENOTDIR');
  if (!(await tx.isEmptyPrefix(K.entryPrefix(child.ino)))) return fail('ENOTEMPTY');
  tx.del(K.entry(a.parent, a.name));
  dir.nlink--;
  touch(dir, tx.now);
  tx.putInode(dir);
  await deleteInode(tx, child);
  return ok({ parentAttr: toAttr(dir) });
}

/** The handlers as apply.ts runs them: each may carry the session's queued closes (ops/carried.ts). */
export const mknod = carrying(mknodOp);
export const mkdir = carrying(mkdirOp);
export const symlink = carrying(symlinkOp);
export const link = carrying(linkOp);
export const unlink = carrying(unlinkOp);
export const rmdir = carrying(rmdirOp);
