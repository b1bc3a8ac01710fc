import { inRange, type Bytes, type Kv, type KvOp, type KvRange, type KvReader, type KvSnapshot } from './kv.js';

/**
 * An in-memory sorted map. Keys are held as latin1 strings: latin1 maps each byte to one UTF-16 code
 * unit, so JavaScript string order equals LevelDB's byte order, and the two engines agree on ranges.
 */
class SortedMap {
  constructor(readonly keys: string[] = [], readonly values = new Map<string, Bytes>()) {}

  /** Index of the first key >= k. */
  lowerBound(k: string): number {
    let lo = 0, hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  put(k: string, v: Bytes): void {
    if (!this.values.has(k)) this.keys.splice(this.lowerBound(k), 0, k);
    this.values.set(k, v);
  }
  del(k: string): void {
    if (!this.values.has(k)) return;
    this.keys.splice(this.lowerBound(k), 1);
    this.values.delete(k);
  }
  clone(): SortedMap {
    return new SortedMap([...this.keys], new Map(this.values));
  }
}

/** Re-finds its place by key after every step, so writes during iteration cannot derail it. */
async function* scan(map: SortedMap, r: KvRange): AsyncGenerator<[Bytes, Bytes]> {
  let i = r.gte ? map.lowerBound(r.gte.toString('latin1')) : 0;
  if (r.gt) i = map.lowerBound(r.gt.toString('latin1') + '\u0000');
  let n = 0;
  while (r.limit === undefined || n < r.limit) {
    const k = map.keys[i];
    if (k === undefined) return;
    const key = Buffer.from(k, 'latin1');
    if (!inRange(key, r)) return;
    yield [key, map.values.get(k)!];
    n++;
    i = map.lowerBound(k + '\u0000');
  }
}

class MemReader implements KvReader {
  constructor(protected map: SortedMap) {}
  async get(key: Bytes): Promise<Bytes | undefined> {
    return this.map.values.get(key.toString('latin1'));
  }
  range(r: KvRange): AsyncIterable<[Bytes, Bytes]> {
    return scan(this.map, r);
  }
}

class MemSnapshot extends MemReader implements KvSnapshot {
  async close(): Promise<void> {}
}

export class MemKv extends MemReader implements Kv {
  private closed = false;
  constructor() {
    super(new SortedMap());
  }
  async write(ops: KvOp[]): Promise<void> {
    if (this.closed) throw new Error('MemKv is closed');
    for (const op of ops) {
      const k = op.key.toString('latin1');
      if (op.type === 'put') this.map.put(k, Buffer.from(op.value));
      else this.map.del(k);
    }
  }
  snapshot(): KvSnapshot {
    return new MemSnapshot(this.map.clone());
  }
  async clear(r: KvRange): Promise<void> {
    const dels: KvOp[] = [];
    for await (const [key] of this.range(r)) dels.push({ type: 'del', key });
    await this.write(dels);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  /** Test hook: a MemKv sharing this one's contents, as if the process restarted over the same disk. */
  reopen(): MemKv {
    const kv = new MemKv();
    kv.map = this.map;
    return kv;
  }
}
