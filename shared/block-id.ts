import type { BlockId } from './types.js';

const BLOCK_ID_RE = /^[0-9a-f]{8,12}-[0-9a-f]{16,32}$/;

/** `randomHex` comes from the caller so that this module stays free of I/O and randomness. */
export function makeBlockId(nowMs: number, randomHex: string): BlockId {
  return `${Math.floor(nowMs).toString(16).padStart(11, '0')}-${randomHex}`;
}
export function isBlockId(x: unknown): x is BlockId {
  return typeof x === 'string' && BLOCK_ID_RE.test(x);
}
/** When the block's writer made it: garbage collection spares blocks younger than the grace period. */
export function blockIdTimeMs(id: BlockId): number {
  return parseInt(id.slice(0, id.indexOf('-')), 16);
}
