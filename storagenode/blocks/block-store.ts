import type { BlockId } from '../../shared/types.js';

/** The node's block store backends (backend.ts opens them); here so config parsing imports no I/O. */
export const BLOCK_STORE_KINDS = ['blob', 'level'] as const;
export type BlockStoreKind = (typeof BLOCK_STORE_KINDS)[number];
/** blob: puts measured 2–4× faster than level for 64 KiB–4 MiB blocks (README.md in this folder). */
export const BLOCK_STORE_DEFAULT: BlockStoreKind = 'blob';

/** One stored block as a scan sees it: enough for garbage collection and repair without reading it. */
export interface BlockEntry {
  id: BlockId;
  size: number; // bytes
  storedAtMs: number; // when this node stored its copy (this node's clock)
}

/**
 * The node-side store of immutable blocks (DESIGN.md invariants 2 and 3). Used by the RPC layer
 * (blockPut, blockGet, blockHas), by garbage collection, and by repair and scrub.
 */
export interface BlockStore {
  /**
   * Durable (fsynced) when it resolves. Idempotent for the same bytes. Different bytes under an
   * existing id reject with BlockConflictError: blocks are immutable, and a replica that silently took
   * the second version would disagree with the others forever. A copy that fails its own checksum is
   * not a version: a put of the same id replaces it (this is how repair rewrites a bad copy).
   */
  put(id: BlockId, data: Uint8Array): Promise<void>;
  /**
   * null if absent. `off`/`len` select a range, clamped to the block's end. Every byte returned is
   * verified against a checksum on every read: the blob store checks the 64 KiB ranges that cover the
   * range (whole blocks for records written before range checksums), the others the whole block. A
   * mismatch rejects with BlockCorruptError; a whole get (scrub) checks every byte.
   */
  get(id: BlockId, off?: number, len?: number): Promise<Uint8Array | null>;
  has(id: BlockId): Promise<boolean>;
  /** Absent ids are ignored: garbage collection and repair may race each other. Durable when it resolves. */
  delete(ids: BlockId[]): Promise<void>;
  /** Ordered by id (ids sort by creation time, then random bits); `after` is exclusive. */
  list(opts?: { after?: BlockId; limit?: number }): Promise<BlockEntry[]>;
  /** Blocks and payload bytes held; correct across restarts and crashes. */
  stats(): { count: number; bytes: number };
  close(): Promise<void>;
}

/** The stored copy of a block does not match its checksum (or its recorded length). */
export class BlockCorruptError extends Error {
  readonly code = 'BLOCK_CORRUPT';
  constructor(readonly id: BlockId, detail: string) {
    super(`block ${id} is corrupt: ${detail}`);
    this.name = 'BlockCorruptError';
  }
}

/** A put tried to store different bytes under an id that already names a (good) block. */
export class BlockConflictError extends Error {
  readonly code = 'BLOCK_CONFLICT';
  constructor(readonly id: BlockId) {
    super(`block ${id} already exists with different content; blocks are immutable`);
    this.name = 'BlockConflictError';
  }
}

/** The store was closed (or, for the in-memory store, crashed) while the operation waited. */
export class BlockStoreClosedError extends Error {
  readonly code = 'BLOCK_STORE_CLOSED';
  constructor(what: string) {
    super(`block store closed: ${what}`);
    this.name = 'BlockStoreClosedError';
  }
}

/** Clamps a requested range to a block of `size` bytes; shared by the backends so they agree. */
export function clampRange(size: number, off = 0, len?: number): { start: number; end: number } {
  const start = Math.min(Math.max(0, off), size);
  const end = len === undefined ? size : Math.min(size, start + Math.max(0, len));
  return { start, end };
}

/** Bytes equality without allocation; used to tell an idempotent re-put from a conflicting one. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}
