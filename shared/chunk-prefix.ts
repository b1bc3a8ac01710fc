import { createHash } from 'node:crypto';
import type { Slice } from './types.js';

/**
 * A chunk's first `count` slices named by a digest (compactChunk): the compactor proves it read
 * exactly the slices it replaces without sending them back. Sending them made a compaction's Raft
 * entry grow with the chunk (~70 bytes a slice), which capped slices per chunk near 1024; the digest
 * is 64 hex characters whatever the count. SHA-256 over one canonical line per slice. Pure.
 */
export interface ChunkPrefix {
  oldCount: number;
  oldDigest: string;
}

export const PREFIX_DIGEST_CHARS = 64;

export function prefixOf(slices: readonly Slice[], count = slices.length): ChunkPrefix {
  const h = createHash('sha256');
  for (let i = 0; i < count; i++) {
    const s = slices[i]!;
    h.update(`${s.pos},${s.len},${s.block},${s.off}\n`);
  }
  return { oldCount: count, oldDigest: h.digest('hex') };
}
