import { fail, ok, type FsResult } from '../../shared/errno.js';
import { META_WRITE_OPS, OPS, time, type MetaWriteOp, type OpArgs, type OpResults } from '../../shared/protocol/ops.js';
import { isTime, type Time } from '../../shared/time.js';
import { Invalid, object, type Infer } from '../../shared/wire/validate.js';
import { pack, unpack } from './records.js';

/**
 * Ops only the nodes propose, never clients. expireSessions: the leader proposes it with its clock in
 * `now`; every replica drops the sessions whose lease lapsed before `now`, with their opens (an inode
 * nobody has open any more is retired). reapOrphans: deletes the inodes retired before `before` (the
 * leader's clock minus its grace period) that nobody opened since (ops/lifecycle.ts).
 */
export const INTERNAL_OPS = {
  expireSessions: object({}),
  reapOrphans: object({ before: time }),
} as const;
export type InternalOp = keyof typeof INTERNAL_OPS;
export interface InternalResults {
  expireSessions: { expired: string[] };
  reapOrphans: { reaped: number; more: boolean };
}

export type MetaCommandOp = MetaWriteOp | InternalOp;
type ArgsOf<O extends MetaCommandOp> = O extends MetaWriteOp ? OpArgs<O> : O extends InternalOp ? Infer<(typeof INTERNAL_OPS)[O]> : never;
export type CommandResults = Pick<OpResults, MetaWriteOp> & InternalResults;

/** One Raft entry. `now` is the leader's clock when it proposed: apply() reads no clock of its own. */
export type MetaCommand<O extends MetaCommandOp = MetaCommandOp> = O extends MetaCommandOp
  ? { op: O; args: ArgsOf<O>; now: Time }
  : never;

export function encodeCommand(cmd: MetaCommand): Uint8Array {
  return pack({ op: cmd.op, args: cmd.args, now: cmd.now });
}

const WRITE_SET: ReadonlySet<string> = new Set(META_WRITE_OPS);
function schemaOf(op: string) {
  if (WRITE_SET.has(op)) return OPS[op as MetaWriteOp];
  if (Object.prototype.hasOwnProperty.call(INTERNAL_OPS, op)) return INTERNAL_OPS[op as InternalOp];
  return undefined;
}

/**
 * A log entry is input like any frame: decode it defensively and re-check its args with the op
 * schema, so a bad entry becomes an EINVAL reply on every replica alike instead of a crash.
 */
export function decodeCommand(data: Uint8Array): FsResult<MetaCommand> {
  let raw: unknown;
  try {
    raw = unpack(data);
  } catch {
    return fail('EINVAL');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('EINVAL');
  const { op, args, now } = raw as Record<string, unknown>;
  if (typeof op !== 'string' || !isTime(now)) return fail('EINVAL');
  const schema = schemaOf(op);
  if (!schema) return fail('EINVAL');
  const checked = (schema as (x: unknown, p: string) => unknown)(args, 'args');
  if (checked instanceof Invalid) return fail('EINVAL');
  return ok({ op, args: checked, now } as MetaCommand);
}
