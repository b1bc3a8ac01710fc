import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/log.js';
import { BlobBlockStore } from './blob-store.js';
import { LevelBlockStore } from './level-store.js';
import type { BlockStore, BlockStoreKind } from './block-store.js';
export { BLOCK_STORE_DEFAULT, BLOCK_STORE_KINDS, type BlockStoreKind } from './block-store.js';

/** A store made by the other backend, found where this node was told to open its blocks. */
export class BlockStoreKindError extends Error {
  readonly code = 'BLOCK_STORE_KIND';
  constructor(readonly dir: string, readonly found: BlockStoreKind, readonly wanted: BlockStoreKind) {
    super(`block store ${dir} was made with the ${found} backend, but this node was started with --block-store ${wanted}; ` +
      `start it with --block-store ${found} (there is no migration between backends)`);
    this.name = 'BlockStoreKindError';
  }
}

/** Which backend made `dir`, by the files each one leaves: LevelDB's CURRENT, or blob's index/ and segments/. */
export function detectBlockStore(dir: string): BlockStoreKind | null {
  if (existsSync(join(dir, 'CURRENT'))) return 'level';
  if (existsSync(join(dir, 'index')) || existsSync(join(dir, 'segments'))) return 'blob';
  return null;
}

/** Opens the node's block store; refuses a directory made by the other backend rather than hide its blocks. */
export async function openBlockStore(kind: BlockStoreKind, dir: string, log: Logger): Promise<BlockStore> {
  const found = detectBlockStore(dir);
  if (found !== null && found !== kind) throw new BlockStoreKindError(dir, found, kind);
  return kind === 'blob' ? BlobBlockStore.open({ path: dir, log }) : LevelBlockStore.open({ path: dir, log });
}
