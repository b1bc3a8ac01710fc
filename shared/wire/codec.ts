import { Packr } from 'msgpackr';
import { isErrorCode } from '../errno.js';
import { FRAME_BYTES_MAX, OP_NAME_BYTES_MAX } from '../limits.js';
import { encodeBlockPutInPlace } from './block-put-frame.js';
import { encodeDataReplyInPlace } from './data-reply.js';
import type { ErrReply, Frame, OkReply, Push, Request } from './envelope.js';

/** Why a frame was refused. Stable codes, so tests and logs can match on them. */
export type ProtocolErrorCode =
  | 'FRAME_TOO_LARGE'
  | 'MALFORMED_MSGPACK'
  | 'NOT_AN_ENVELOPE'
  | 'BAD_REQUEST_ID'
  | 'BAD_OP_NAME'
  | 'BAD_ARGS'
  | 'UNKNOWN_OP'
  | 'NO_HANDSHAKE'
  | 'BAD_HANDSHAKE';

export class ProtocolError extends Error {
  constructor(readonly code: ProtocolErrorCode, message: string, readonly requestId = 0) {
    super(message);
    this.name = 'ProtocolError';
  }
}

// Plain maps in, plain objects out; no records/structures, so a frame decodes the same in any process
// and a hostile peer cannot make us build shared structure tables.
const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' });

export function encodeFrame(frame: Frame): Buffer {
  const data = dataReplyPayload(frame);
  if (data) return encodeDataReplyInPlace((frame as OkReply).id, data) || packr.pack(frame);
  const put = blockPutArgs(frame);
  return (put && encodeBlockPutInPlace((frame as Request).id, put.id, put.data)) || packr.pack(frame);
}

/** The arguments of a request shaped {id, op: 'blockPut', args: {id: string, data: bytes}} (block-put-frame.ts frames it in place). */
function blockPutArgs(frame: Frame): { id: string; data: Uint8Array } | null {
  if (typeof frame !== 'object' || frame === null || !('op' in frame) || frame.op !== 'blockPut') return null;
  const a = frame.args as Record<string, unknown> | null;
  if (typeof a !== 'object' || a === null || typeof a.id !== 'string' || !(a.data instanceof Uint8Array)) return null;
  for (const k in a) if (k !== 'id' && k !== 'data') return null;
  return { id: a.id, data: a.data };
}

/** The payload of a reply shaped {id, ok: true, result: {data: bytes}} (data-reply.ts frames it in place). */
function dataReplyPayload(frame: Frame): Uint8Array | null {
  // Tests send anything through here (scalars, arrays): check the shape before looking inside.
  if (typeof frame !== 'object' || frame === null || !('ok' in frame) || frame.ok !== true) return null;
  const r = frame.result as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null || !(r.data instanceof Uint8Array)) return null;
  for (const k in r) if (k !== 'data') return null;
  return r.data;
}

/** Decodes and checks the envelope's shape; op arguments are checked later against the op's schema. */
export function decodeFrame(buf: Uint8Array): Frame | ProtocolError {
  if (buf.byteLength > FRAME_BYTES_MAX) return new ProtocolError('FRAME_TOO_LARGE', `frame of ${buf.byteLength} bytes exceeds ${FRAME_BYTES_MAX}`);
  let v: unknown;
  try {
    v = packr.unpack(buf);
  } catch (e) {
    return new ProtocolError('MALFORMED_MSGPACK', `undecodable frame: ${(e as Error).message}`);
  }
  return checkEnvelope(v);
}

function checkEnvelope(v: unknown): Frame | ProtocolError {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    return new ProtocolError('NOT_AN_ENVELOPE', 'a frame must be a map');
  }
  const o = v as Record<string, unknown>;
  if (typeof o.push === 'string') return { push: o.push, data: o.data } satisfies Push;
  if (typeof o.id !== 'number' || !Number.isSafeInteger(o.id) || o.id < 0) {
    return new ProtocolError('BAD_REQUEST_ID', 'id must be a non-negative integer');
  }
  if (o.ok === true) return { id: o.id, ok: true, result: o.result } satisfies OkReply;
  if (o.ok === false) {
    if (!isErrorCode(o.code)) return new ProtocolError('NOT_AN_ENVELOPE', 'error reply without a known code', o.id);
    const r: ErrReply = { id: o.id, ok: false, code: o.code };
    if (typeof o.message === 'string') r.message = o.message;
    if (typeof o.leader === 'string') r.leader = o.leader;
    return r;
  }
  if (typeof o.op !== 'string' || o.op.length === 0 || o.op.length > OP_NAME_BYTES_MAX) {
    return new ProtocolError('BAD_OP_NAME', 'op must be a short string', o.id);
  }
  return { id: o.id, op: o.op, args: o.args } satisfies Request;
}

/** For logs: what a frame is, in a few words, without dumping payloads. */
export function describeFrame(f: Frame): string {
  if ('push' in f) return `push ${f.push}`;
  if ('op' in f) return `request #${f.id} ${f.op}`;
  return f.ok ? `reply #${f.id} ok` : `reply #${f.id} ${f.code}${f.message ? `: ${f.message}` : ''}`;
}

/** msgpack ext/typed arrays come back as Buffer or Uint8Array; payload checks accept both. */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
