/**
 * The tidefs protocol version. A connection starts with `hello` carrying this version and the
 * cluster id; a node refuses (UNAUTHORIZED, then closes) a peer of another cluster or version, so two
 * clusters on one machine can never mix their data, and mixed versions fail at the handshake instead of
 * with EINVAL on fields the older side's validator does not know.
 * 2: mknod `open`, carried `releases`, open by (parent, name), directory attributes in replies.
 * 3: compactChunk names the replaced slices by count and digest (`oldCount`, `oldDigest`), not by
 *    list; chunks hold up to 4096 slices.
 * 4: `openRead` (a read-only open with no Raft entry) and carried `opens`; `release` without `ino`.
 * 5: commitWrite `times` (a utimens riding on the data commit it flushed). A version-4 node's
 *    validator refuses the unknown field (EINVAL), in requests and in Raft entries alike.
 * 6: nodes store chunk records in a form version-5 nodes cannot read (storagenode/meta/chunk-codec.ts),
 *    and snapshots carry them between peers; setattr `killPriv` (the kernel leaves clearing
 *    setuid/setgid and file capabilities to the file system: client/fuse/BINDING.md).
 * 7: commitWrite `attrs` (chmod, chown and utimens made while the file's writes were buffered).
 */
export const PROTOCOL_VERSION = 7;
export const CLUSTER_ID_DEFAULT = 'tidefs';
