/**
 * Lock keys, inside the `l/` range storagenode/meta/keys.ts reserves. Numbers are fixed-width hex so
 * byte order is numeric order (waiters of a session list oldest first).
 *
 *   l/f/<ino:16>                 the file's lock table (FileLocks: POSIX locks, flocks, FIFO waiters)
 *   l/i/<session>/<ino:16>       locks + waiters the session has on the file, to find them at session end
 *   l/n/<session>                locks + waiters of the session in all, for LOCKS_PER_SESSION_MAX
 *   l/w/<session>/<waiter:16>    a blocking request (WaitRec): queued, then granted or failed until lockWait reads it
 */
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const b = (s: string) => Buffer.from(s, 'utf8');

export const LK = {
  file: (ino: number) => b(`l/f/${hex(ino, 16)}`),
  filePrefix: () => b('l/f/'),
  sessionFile: (session: string, ino: number) => b(`l/i/${session}/${hex(ino, 16)}`),
  sessionFilePrefix: (session: string) => b(`l/i/${session}/`),
  sessionCount: (session: string) => b(`l/n/${session}`),
  wait: (session: string, waiter: number) => b(`l/w/${session}/${hex(waiter, 16)}`),
  waitPrefix: (session: string) => b(`l/w/${session}/`),
};

/** The trailing hex number of an l/i or l/w key (the inode or the waiter id). */
export function tailOfKey(key: Uint8Array): number {
  const s = Buffer.from(key).toString('latin1');
  return parseInt(s.slice(s.lastIndexOf('/') + 1), 16);
}
