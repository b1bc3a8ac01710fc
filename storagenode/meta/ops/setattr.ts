import { fail, ok, type Errno } from '../../../shared/errno.js';
import type { OpArgs, OpResults } from '../../../shared/protocol/ops.js';
import type { Cred } from '../../../shared/types.js';
import type { Tx } from '../tx.js';
import { toAttr, type InodeRec } from '../records.js';
import { allowed, loadInode, W_OK, type Res } from './common.js';
import { truncateTo } from './data.js';
import { carrying } from './carried.js';
import { applyChange, checkChange } from './attrs.js';

type Args = OpArgs<'setattr'>;

function checkSize(rec: InodeRec, cred: Cred): Errno | undefined {
  if (rec.type === 'dir') return 'EISDIR';
  if (rec.type !== 'file') return 'EINVAL';
  return allowed(rec, cred, W_OK) ? undefined : 'EACCES';
}

async function setattrOp(tx: Tx, a: Args): Res<OpResults['setattr']> {
  const r = await loadInode(tx, a.ino);
  if (!r.ok) return r;
  const rec = r.value;
  const c = checkChange(rec, a);
  if (typeof c === 'string') return fail(c);
  const bad = a.size !== undefined ? checkSize(rec, a.cred) : undefined;
  if (bad) return fail(bad);

  if (a.size !== undefined && a.size !== rec.size) await truncateTo(tx, rec, a.size);
  else if (a.size !== undefined) rec.mtime = tx.now; // POSIX: truncate to the same size still updates times
  await applyChange(tx, rec, a, c.mode);
  tx.putInode(rec);
  return ok(toAttr(rec));
}

/** The handlers as apply.ts runs them: each may carry the session's queued closes (ops/carried.ts). */
export const setattr = carrying(setattrOp);
