import { FsError, isErrno, type Errno } from '../../shared/errno.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { RpcError } from '../../shared/rpc/rpc-error.js';

let log: Logger = createLogger('client errno');
/** The client's main wires its logger in here, so unknown errors land in the mount's log file. */
export function setErrnoLogger(l: Logger): void {
  log = l;
}

/**
 * The one funnel from anything thrown below the VFS to a POSIX error name (STYLE.md "Errno").
 * POSIX errors from the nodes pass through; cluster conditions that survived the retry policy
 * (UNAVAILABLE after the deadline, ...) and bugs become EIO, logged with context, never silently.
 */
export function toErrno(e: unknown, context = ''): Errno {
  if (e instanceof FsError) return e.errno;
  if (e instanceof RpcError) {
    if (isErrno(e.code)) return e.code;
    log.warn(`${context ? context + ': ' : ''}cluster error became EIO: ${e.message}`);
    return 'EIO';
  }
  const err = e as Error | undefined;
  log.error(`${context ? context + ': ' : ''}unexpected error became EIO: ${err?.stack ?? String(e)}`);
  return 'EIO';
}

/**
 * Whether a failed metadata request certainly changed nothing: the state machine answered it with an
 * errno, and an op that fails is rolled back whole, with everything its entry carried (apply.ts). Any
 * other failure (the client gave up, a fence) may have come after the entry applied.
 */
export function refusedWhole(e: unknown): boolean {
  return e instanceof RpcError && isErrno(e.code);
}
