import { Level } from 'level';
import type { Bytes, Kv, KvOp, KvRange, KvReader, KvSnapshot } from './kv.js';

type Db = Level<Buffer, Buffer>;
type Snap = ReturnType<Db['snapshot']>;

function iterOpts(r: KvRange, snapshot?: Snap) {
  return {
    ...(r.gte ? { gte: r.gte } : {}), ...(r.gt ? { gt: r.gt } : {}), ...(r.lt ? { lt: r.lt } : {}),
    ...(r.limit !== undefined ? { limit: r.limit } : {}), ...(snapshot ? { snapshot } : {}),
  };
}

async function* iterate(db: Db, r: KvRange, snapshot?: Snap): AsyncGenerator<[Bytes, Bytes]> {
  for await (const [k, v] of db.iterator(iterOpts(r, snapshot))) yield [k, v];
}

class LevelSnapshot implements KvSnapshot {
  constructor(private db: Db, private snap: Snap) {}
  async get(key: Bytes): Promise<Bytes | undefined> {
    return this.db.getSync(key, { snapshot: this.snap }) ?? undefined;
  }
  range(r: KvRange): AsyncIterable<[Bytes, Bytes]> {
    return iterate(this.db, r, this.snap);
  }
  async close(): Promise<void> {
    await this.snap.close();
  }
}

/** LevelDB through `level` (classic-level): binary keys and values, explicit snapshots for images. */
export class LevelKv implements Kv, KvReader {
  private constructor(private db: Db) {}

  static async open(dir: string): Promise<LevelKv> {
    const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    return new LevelKv(db);
  }
  /**
   * getSync: metadata records are small and their blocks are cached or mmapped, so LevelDB answers in
   * microseconds; the asynchronous get's round trip through the thread pool cost far more (~0.2 ms
   * each, several per op, in the profile of a create).
   */
  async get(key: Bytes): Promise<Bytes | undefined> {
    return this.db.getSync(key) ?? undefined;
  }
  range(r: KvRange): AsyncIterable<[Bytes, Bytes]> {
    return iterate(this.db, r);
  }
  async write(ops: KvOp[], opts: { sync?: boolean } = {}): Promise<void> {
    if (ops.length === 0) return;
    await this.db.batch(ops, { sync: opts.sync ?? false });
  }
  snapshot(): KvSnapshot {
    return new LevelSnapshot(this.db, this.db.snapshot());
  }
  async clear(r: KvRange): Promise<void> {
    const { limit: _ignored, ...bounds } = r;
    await this.db.clear(bounds);
  }
  async close(): Promise<void> {
    await this.db.close();
  }
}
