import { fail, ok } from '../../../shared/errno.js';
import { LINK_COUNT_MAX } from '../../../shared/limits.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, type OpArgs, type OpResults } from '../../../shared/protocol/ops.js';
import { ROOT_INO, type Cred } from '../../../shared/types.js';
import { K } from '../keys.js';
import type { EntryRec, InodeRec } from '../records.js';
import type { Tx } from '../tx.js';
import { allowed, checkName, stickyAllows, touch, writableDir, W_OK, type Res } from './common.js';
import { deleteInode, dropLink } from './lifecycle.js';
import { carrying } from './carried.js';

type Done = OpResults['rename'];

/** Whether `dir` is `ancestor` or lies below it: walks `parent` pointers of directories to the root. */
async function isWithin(tx: Tx, dir: InodeRec, ancestor: number): Promise<boolean> {
  let cur: InodeRec | undefined = dir;
  for (let hops = 0; cur; hops++) {
    if (cur.ino === ancestor) return true;
    if (cur.ino === ROOT_INO || cur.parent === undefined || hops > 1_000_000) return false;
    cur = await tx.getInode(cur.parent);
  }
  return false;
}

interface Side {
  dir: InodeRec;
  name: string;
  entry: EntryRec | undefined;
  inode: InodeRec | undefined;
}

async function loadSide(tx: Tx, parent: number, name: string, cred: Cred, same?: InodeRec): Res<Side> {
  const dir = same ? { ok: true as const, value: same } : await writableDir(tx, parent, cred);
  if (!dir.ok) return dir;
  const bad = checkName(name);
  if (bad) return fail(bad);
  const entry = await tx.getEntry(parent, name);
  const inode = entry ? await tx.getInode(entry.ino) : undefined;
  return ok({ dir: dir.value, name, entry, inode });
}

/**
 * A directory that changes parent: not into its own subtree (EINVAL), the caller must be able to
 * rewrite its `..` (write permission on it, as Linux asks), and the new parent gains a link.
 */
async function checkDirMove(tx: Tx, moved: InodeRec, from: InodeRec, to: InodeRec, cred: Cred, gainsLink: boolean): Res<Done> {
  if (from.ino === to.ino) return ok({});
  if (await isWithin(tx, to, moved.ino)) return fail('EINVAL');
  if (!allowed(moved, cred, W_OK)) return fail('EACCES');
  if (gainsLink && to.nlink >= LINK_COUNT_MAX) return fail('EMLINK');
  return ok({});
}

function moveDirLinks(moved: InodeRec, from: InodeRec, to: InodeRec): void {
  if (from.ino === to.ino) return;
  from.nlink--;
  to.nlink++;
  moved.parent = to.ino;
}

function finish(tx: Tx, s: Side, d: Side): Done {
  touch(s.dir, tx.now);
  touch(d.dir, tx.now);
  tx.putInode(s.dir);
  if (d.dir !== s.dir) tx.putInode(d.dir);
  return {};
}

async function renameOp(tx: Tx, a: OpArgs<'rename'>): Res<Done> {
  if (a.flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) || a.flags === (RENAME_NOREPLACE | RENAME_EXCHANGE)) return fail('EINVAL');
  const s = await loadSide(tx, a.parent, a.name, a.cred);
  if (!s.ok) return s;
  const d = await loadSide(tx, a.newParent, a.newName, a.cred, a.newParent === a.parent ? s.value.dir : undefined);
  if (!d.ok) return d;
  if (!s.value.entry || !s.value.inode) return fail('ENOENT');
  if (a.flags & RENAME_EXCHANGE) return exchange(tx, s.value, d.value, a.cred);
  if (d.value.entry && a.flags & RENAME_NOREPLACE) return fail('EEXIST');
  return move(tx, s.value, d.value, a.cred);
}

async function move(tx: Tx, s: Side, d: Side, cred: Cred): Res<Done> {
  const src = s.inode!;
  const victim = d.inode;
  if (victim && victim.ino === src.ino) return ok({}); // POSIX: two names of one file, nothing to do
  if (victim) {
    if (src.type === 'dir' && victim.type !== 'dir') return fail('ENOTDIR');
    if (src.type !== 'dir' && victim.type === 'dir') return fail('EISDIR');
  }
  if (src.type === 'dir') {
    const r = await checkDirMove(tx, src, s.dir, d.dir, cred, !victim);
    if (!r.ok) return r;
  }
  if (victim?.type === 'dir' && !(await tx.isEmptyPrefix(K.entryPrefix(victim.ino)))) return fail('ENOTEMPTY');
  if (!stickyAllows(s.dir, src, cred) || (victim && !stickyAllows(d.dir, victim, cred))) return fail('EPERM');

  tx.del(K.entry(s.dir.ino, s.name));
  tx.putVal(K.entry(d.dir.ino, d.name), s.entry);
  if (victim?.type === 'dir') {
    d.dir.nlink--;
    await deleteInode(tx, victim);
  } else if (victim) {
    victim.nlink--;
    victim.ctime = tx.now;
    await dropLink(tx, victim);
  }
  if (src.type === 'dir') moveDirLinks(src, s.dir, d.dir);
  src.ctime = tx.now;
  tx.putInode(src);
  return ok(finish(tx, s, d));
}

async function exchange(tx: Tx, s: Side, d: Side, cred: Cred): Res<Done> {
  const a = s.inode!;
  const b = d.inode;
  if (!d.entry || !b) return fail('ENOENT');
  if (a.ino === b.ino) return ok({});
  if (a.type === 'dir') {
    const r = await checkDirMove(tx, a, s.dir, d.dir, cred, b.type !== 'dir');
    if (!r.ok) return r;
  }
  if (b.type === 'dir') {
    const r = await checkDirMove(tx, b, d.dir, s.dir, cred, a.type !== 'dir');
    if (!r.ok) return r;
  }
  if (!stickyAllows(s.dir, a, cred) || !stickyAllows(d.dir, b, cred)) return fail('EPERM');

  tx.putVal(K.entry(s.dir.ino, s.name), d.entry);
  tx.putVal(K.entry(d.dir.ino, d.name), s.entry);
  if (a.type === 'dir') moveDirLinks(a, s.dir, d.dir);
  if (b.type === 'dir') moveDirLinks(b, d.dir, s.dir);
  a.ctime = tx.now;
  b.ctime = tx.now;
  tx.putInode(a);
  tx.putInode(b);
  return ok(finish(tx, s, d));
}

/** The handlers as apply.ts runs them: each may carry the session's queued closes (ops/carried.ts). */
export const rename = carrying(renameOp);
