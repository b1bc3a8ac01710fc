import { Level } from 'level';
import type { BlockId } from '../../shared/types.js';
import type { BlockEntry } from './block-store.js';
import { decodeLoc, encodeLoc, type BlockLoc } from './segment-record.js';

/**
 * The blob store's LevelDB index (values are small; the blocks live in segment files):
 *   v              format ("blob-1")
 *   s              f64 count | f64 bytes: stats, rewritten in every batch so they are exact after a crash
 *   a              u32 active segment | f64 committed end: everything past it is unacknowledged
 *   g/<seg>        f64 live record bytes | f64 live records, per segment: its dead ratio for compaction
 *   b/<id>         BlockLoc (segment, offset, size, crc, storedAtMs)
 */
export const INDEX_FORMAT = 'blob-1';
const BLOCK = 'b/';
const BLOCK_END = 'b0'; // '0' follows '/'
const SEG = 'g/';
const SEG_END = 'g0';

export type IndexOp = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };
export interface SegLive { bytes: number; count: number }

export class BlobIndex {
  private constructor(private readonly db: Level<string, Buffer>) {}

  static async open(path: string): Promise<BlobIndex> {
    const db = new Level<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer', compression: false } as object);
    await db.open();
    return new BlobIndex(db);
  }

  get location(): string {
    return this.db.location;
  }

  /** Each id's location; undefined if absent, null if the entry does not parse (reads as corrupt). */
  async locs(ids: BlockId[]): Promise<(BlockLoc | null | undefined)[]> {
    const vals = await this.db.getMany(ids.map((id) => BLOCK + id));
    return vals.map((v) => (v === undefined ? undefined : decodeLoc(v)));
  }

  async loc(id: BlockId): Promise<BlockLoc | null | undefined> {
    const v = await this.db.get(BLOCK + id);
    return v === undefined ? undefined : decodeLoc(v);
  }

  async has(id: BlockId): Promise<boolean> {
    return (await this.db.get(BLOCK + id)) !== undefined;
  }

  /** An entry that does not parse lists as size 0, stored at the end of time: GC never takes it for old. */
  async list(after: BlockId | undefined, limit: number): Promise<BlockEntry[]> {
    const range = after === undefined ? { gte: BLOCK } : { gt: BLOCK + after };
    const out: BlockEntry[] = [];
    for await (const [key, value] of this.db.iterator({ ...range, lt: BLOCK_END, limit })) {
      const loc = decodeLoc(value);
      out.push({ id: key.slice(BLOCK.length), size: loc?.size ?? 0, storedAtMs: loc?.storedAtMs ?? Number.MAX_SAFE_INTEGER });
    }
    return out;
  }

  async *entries(): AsyncGenerator<[BlockId, BlockLoc | null]> {
    for await (const [key, value] of this.db.iterator({ gte: BLOCK, lt: BLOCK_END })) yield [key.slice(BLOCK.length), decodeLoc(value)];
  }

  async readMeta(): Promise<{ format?: string; stats?: { count: number; bytes: number }; active?: { seg: number; end: number } }> {
    const [v, s, a] = await this.db.getMany(['v', 's', 'a']);
    return {
      ...(v ? { format: v.toString() } : {}),
      ...(s?.length === 16 ? { stats: { count: s.readDoubleLE(0), bytes: s.readDoubleLE(8) } } : {}),
      ...(a?.length === 12 ? { active: { seg: a.readUInt32LE(0), end: a.readDoubleLE(4) } } : {}),
    };
  }

  async segLive(): Promise<Map<number, SegLive>> {
    const out = new Map<number, SegLive>();
    for await (const [key, v] of this.db.iterator({ gte: SEG, lt: SEG_END })) {
      out.set(Number(key.slice(SEG.length)), { bytes: v.readDoubleLE(0), count: v.readDoubleLE(8) });
    }
    return out;
  }

  async write(ops: IndexOp[], sync: boolean): Promise<void> {
    await this.db.batch(ops, { sync } as object);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

export const ops = {
  format: (): IndexOp => ({ type: 'put', key: 'v', value: Buffer.from(INDEX_FORMAT) }),
  stats(count: number, bytes: number): IndexOp {
    const value = Buffer.alloc(16);
    value.writeDoubleLE(count, 0);
    value.writeDoubleLE(bytes, 8);
    return { type: 'put', key: 's', value };
  },
  active(seg: number, end: number): IndexOp {
    const value = Buffer.alloc(12);
    value.writeUInt32LE(seg, 0);
    value.writeDoubleLE(end, 4);
    return { type: 'put', key: 'a', value };
  },
  segLive(seg: number, live: SegLive): IndexOp {
    const value = Buffer.alloc(16);
    value.writeDoubleLE(live.bytes, 0);
    value.writeDoubleLE(live.count, 8);
    return { type: 'put', key: SEG + seg.toString().padStart(10, '0'), value };
  },
  dropSeg: (seg: number): IndexOp => ({ type: 'del', key: SEG + seg.toString().padStart(10, '0') }),
  putLoc: (id: BlockId, loc: BlockLoc): IndexOp => ({ type: 'put', key: BLOCK + id, value: encodeLoc(loc) }),
  delLoc: (id: BlockId): IndexOp => ({ type: 'del', key: BLOCK + id }),
};
