import type { ErrorCode } from '../errno.js';

/** A request that did not succeed: a POSIX errno from the file system, or a cluster condition. */
export class RpcError extends Error {
  constructor(readonly code: ErrorCode, message?: string, readonly leader?: string) {
    super(message ? `${code}: ${message}` : code);
    this.name = 'RpcError';
  }
}
