/**
 * The key layout (JuiceFS/3FS style). Every number is fixed-width lowercase hex, so byte order is
 * numeric order; names go last in a key, so a prefix scan lists a directory in name (byte) order.
 *
 *   i/<ino:16>                   inode record (InodeRec)
 *   d/<parent:16>/<name>         directory entry → { ino, type }
 *   x/<ino:16>/<name>            xattr value (raw bytes)
 *   c/<ino:16>/<chunk:8>         slice list of one chunk, in write order
 *   r/<blockId>                  number of slices that name the block
 *   s/<session>                  session record (SessionRec)
 *   o/<ino:16>/<session>         open count of the inode by the session
 *   p/<session>/<ino:16>         the same fact indexed by session, for closing a session
 *   n/<ino:16>                   how many sessions have the inode open (absent = none): a point get
 *                                answers "still open?", where a scan of o/<ino>/ crossed the deletion
 *                                markers of every create's closed open (docs/perf-meta.md)
 *   u/<ino:16>                   orphan: nlink 0 but still open, or waiting out its grace
 *   z/<ms:16>/<ino:16>           an inode left nameless and unopened at that time (leader's clock, ms):
 *                                reaped once the grace period has passed and still nobody opened it
 *                                (ops/lifecycle.ts: read opens register after they return)
 *   q/<session>/<seq:16>         recorded reply of a (session, seq) request, for dedup
 *   g/<session>                  when an expired session's replies are to be forgotten (retired session)
 *   l/...                        byte-range and flock locks (storagenode/meta/locks/keys.ts)
 *   m/applied, m/counters, m/restoring   applied index/term, inode/byte counters, restore marker
 *   m/format                     layout version (2: n/ counts exist; see meta/format.ts)
 */
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const b = (s: string) => Buffer.from(s, 'utf8');

export const K = {
  inode: (ino: number) => b(`i/${hex(ino, 16)}`),
  inodePrefix: () => b('i/'),
  entry: (parent: number, name: string) => b(`d/${hex(parent, 16)}/${name}`),
  entryPrefix: (parent: number) => b(`d/${hex(parent, 16)}/`),
  xattr: (ino: number, name: string) => b(`x/${hex(ino, 16)}/${name}`),
  xattrPrefix: (ino: number) => b(`x/${hex(ino, 16)}/`),
  chunk: (ino: number, chunk: number) => b(`c/${hex(ino, 16)}/${hex(chunk, 8)}`),
  chunkPrefix: (ino: number) => b(`c/${hex(ino, 16)}/`),
  ref: (block: string) => b(`r/${block}`),
  session: (id: string) => b(`s/${id}`),
  sessionPrefix: () => b('s/'),
  open: (ino: number, session: string) => b(`o/${hex(ino, 16)}/${session}`),
  openPrefix: (ino: number) => b(`o/${hex(ino, 16)}/`),
  openCount: (ino: number) => b(`n/${hex(ino, 16)}`),
  sessionOpen: (session: string, ino: number) => b(`p/${session}/${hex(ino, 16)}`),
  sessionOpenPrefix: (session: string) => b(`p/${session}/`),
  orphan: (ino: number) => b(`u/${hex(ino, 16)}`),
  orphanPrefix: () => b('u/'),
  reap: (ms: number, ino: number) => b(`z/${hex(ms, 16)}/${hex(ino, 16)}`),
  reapPrefix: () => b('z/'),
  dedup: (session: string, seq: number) => b(`q/${session}/${hex(seq, 16)}`),
  dedupPrefix: (session: string) => b(`q/${session}/`),
  retired: (session: string) => b(`g/${session}`),
  retiredPrefix: () => b('g/'),
  lockPrefix: () => b('l/'),
  applied: () => b('m/applied'),
  counters: () => b('m/counters'),
  restoring: () => b('m/restoring'),
  format: () => b('m/format'),
};

/** The inode number of an i/, d/ (the parent), x/, c/, o/ or n/ key: the 16 hex digits after `<letter>/`. */
export function inoOfKey(key: Buffer): number {
  return parseInt(key.subarray(2, 2 + 16).toString('latin1'), 16);
}
/** The name part of a d/ or x/ key: everything after `<prefix letter>/<ino:16>/`. */
export function nameOfKey(key: Buffer): string {
  return key.subarray(2 + 16 + 1).toString('utf8');
}
/** The trailing hex number of a c/, p/ or q/ key. */
export function tailNumber(key: Buffer): number {
  const s = key.toString('latin1');
  return parseInt(s.slice(s.lastIndexOf('/') + 1), 16);
}
/** The session of an o/ key. */
export function sessionOfOpenKey(key: Buffer): string {
  return key.subarray(2 + 16 + 1).toString('utf8');
}
/** Session ids are the Raft index of the entry that opened them, so every replica derives the same. */
export function sessionIdFor(index: number): string {
  return hex(index, 12);
}
