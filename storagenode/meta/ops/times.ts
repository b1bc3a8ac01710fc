import type { Errno } from '../../../shared/errno.js';
import type { Time } from '../../../shared/time.js';
import type { Cred } from '../../../shared/types.js';
import type { InodeRec } from '../records.js';
import { allowed, isOwner, W_OK } from './common.js';

/**
 * utimensat(2)'s atime and mtime: a time, 'now', or absent (UTIME_OMIT). The setattr op takes them,
 * and so does commitWrite, whose `times` carry a utimens of the file behind the flush it forced
 * (docs/perf-meta.md): one rule for both.
 */
export interface TimesArg {
  atime?: Time | 'now' | undefined;
  mtime?: Time | 'now' | undefined;
}

/** utimes: explicit times need ownership; 'now' also anyone who may write the file. */
export function checkTimes(rec: InodeRec, cred: Cred, t: TimesArg): Errno | undefined {
  const explicit = (t.atime !== undefined && t.atime !== 'now') || (t.mtime !== undefined && t.mtime !== 'now');
  if (explicit) return isOwner(rec, cred) ? undefined : 'EPERM';
  if (t.atime === undefined && t.mtime === undefined) return undefined;
  return isOwner(rec, cred) || allowed(rec, cred, W_OK) ? undefined : 'EACCES';
}

const pick = (t: Time | 'now' | undefined, now: Time, old: Time): Time => (t === undefined ? old : t === 'now' ? now : t);

/** Sets the times checkTimes allowed; the caller moves ctime to now, as for any attribute change. */
export function setTimes(rec: InodeRec, t: TimesArg, now: Time): void {
  rec.atime = pick(t.atime, now, rec.atime);
  rec.mtime = pick(t.mtime, now, rec.mtime);
}
