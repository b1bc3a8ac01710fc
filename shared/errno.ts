/**
 * POSIX errors travel between client and nodes as names, never numbers: the numbers differ between
 * operating systems, and only the FUSE adapter (client/fuse) turns a name into the local number.
 */
export const POSIX_ERRNOS = [
  'EPERM', 'ENOENT', 'EIO', 'EBADF', 'EAGAIN', 'EACCES', 'EBUSY', 'EEXIST', 'EXDEV', 'ENODEV',
  'ENOTDIR', 'EISDIR', 'EINVAL', 'EFBIG', 'ENOSPC', 'EROFS', 'EMLINK', 'ERANGE', 'EDEADLK',
  'ENAMETOOLONG', 'ENOLCK', 'ENOSYS', 'ENOTEMPTY', 'ELOOP', 'ENODATA', 'EOVERFLOW', 'EOPNOTSUPP',
  'ENOTSUP', 'EINTR', 'ETIMEDOUT', 'E2BIG', 'ESTALE', 'ENXIO', 'ETXTBSY', 'ENOTCONN',
] as const;
export type Errno = (typeof POSIX_ERRNOS)[number];

/**
 * Conditions of the cluster itself, not of a file: they tell the client what to do next (retry
 * elsewhere, give up) and are never handed to an application as they are.
 */
export const SYSTEM_CODES = [
  'NOT_LEADER', // this node is not the Raft leader; `leader` in the reply names the one it knows, if any
  'UNAVAILABLE', // no quorum or the node is shutting down; retry later
  'PROTOCOL', // the request was malformed; the connection may be closed after this reply
  'UNAUTHORIZED', // handshake missing or refused
  'BAD_CHECKSUM', // a stored block failed its checksum; read another replica
  'TOO_BUSY', // a limit on in-flight work was hit
  'STALE_SESSION', // the session's lease has expired; the client must open a new session
] as const;
export type SystemCode = (typeof SYSTEM_CODES)[number];
export type ErrorCode = Errno | SystemCode;

const ERRNO_SET: ReadonlySet<string> = new Set(POSIX_ERRNOS);
const CODE_SET: ReadonlySet<string> = new Set([...POSIX_ERRNOS, ...SYSTEM_CODES]);
export function isErrno(s: unknown): s is Errno {
  return typeof s === 'string' && ERRNO_SET.has(s);
}
export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && CODE_SET.has(s);
}

/** The result of every file-system operation: a value or a POSIX error name. A throw means a bug. */
export type FsResult<T> = { ok: true; value: T } | { ok: false; errno: Errno };
export const ok = <T>(value: T): FsResult<T> => ({ ok: true, value });
export const fail = <T = never>(errno: Errno): FsResult<T> => ({ ok: false, errno });

/** Thrown (and caught at layer boundaries) where a POSIX error must unwind several frames. */
export class FsError extends Error {
  constructor(readonly errno: Errno, message?: string) {
    super(message ?? errno);
    this.name = 'FsError';
  }
}
