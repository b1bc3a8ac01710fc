import type { ErrorCode } from '../errno.js';

/**
 * Every frame on a tidefs WebSocket is one msgpack value of one of these shapes.
 * - request:  {id, op, args}      id > 0; the reply carries the same id (requests are pipelined)
 * - one-way:  {id: 0, op, args}   no reply (Raft messages between peers)
 * - reply:    {id, ok: true, result} | {id, ok: false, code, message?, leader?}
 * - push:     {push, data}        server-initiated (lock grants, invalidations)
 * The first request on a connection must be `hello` (shared/protocol/handshake.ts).
 */
export interface Request {
  id: number;
  op: string;
  args: unknown;
}
export interface OkReply {
  id: number;
  ok: true;
  result: unknown;
}
export interface ErrReply {
  id: number;
  ok: false;
  code: ErrorCode;
  message?: string;
  /** With NOT_LEADER: the URL of the leader this node believes in, if any. */
  leader?: string;
}
export type Reply = OkReply | ErrReply;
export interface Push {
  push: string;
  data: unknown;
}
export type Frame = Request | Reply | Push;
