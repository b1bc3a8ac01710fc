import { Level } from 'level';
import { SNAPSHOT_CHUNK_BYTES_MAX } from '../../shared/limits.js';
import type { AppliedEntry, SnapshotImage, StateMachine } from '../../storagenode/state-machine.js';

/**
 * A tiny real state machine for driver tests: a counter map on LevelDB. A command is JSON
 * {key, add}; apply returns the key's new value. Each apply is one batch with the applied index.
 */
export class KvStateMachine implements StateMachine {
  private appliedAt = { index: 0, term: 0 };
  readonly values = new Map<string, number>();
  restores = 0;

  private constructor(private readonly db: Level<string, string>) {}

  static async open(dir: string): Promise<KvStateMachine> {
    const db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open();
    const sm = new KvStateMachine(db);
    const a = await db.get('applied');
    if (a) sm.appliedAt = JSON.parse(a);
    for await (const [k, v] of db.iterator({ gt: 'k/', lt: 'k0' })) sm.values.set(k.slice(2), Number(v));
    return sm;
  }

  static command(key: string, add: number): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ key, add }));
  }

  applied(): { index: number; term: number } {
    return { ...this.appliedAt };
  }

  async apply(e: AppliedEntry): Promise<unknown> {
    if (e.index !== this.appliedAt.index + 1) throw new Error(`kv: apply ${e.index} after ${this.appliedAt.index}`);
    const ops: { type: 'put'; key: string; value: string }[] = [];
    let result: number | null = null;
    if (e.data.byteLength) {
      const { key, add } = JSON.parse(new TextDecoder().decode(e.data)) as { key: string; add: number };
      result = (this.values.get(key) ?? 0) + add;
      this.values.set(key, result);
      ops.push({ type: 'put', key: `k/${key}`, value: String(result) });
    }
    this.appliedAt = { index: e.index, term: e.term };
    ops.push({ type: 'put', key: 'applied', value: JSON.stringify(this.appliedAt) });
    await this.db.batch(ops);
    return result;
  }

  exportSnapshot(): SnapshotImage {
    const at = this.applied();
    const body = new TextEncoder().encode(JSON.stringify([...this.values]));
    return {
      ...at,
      async *chunks() {
        // Small chunks on purpose, so tests exercise multi-chunk transfers.
        const size = Math.min(SNAPSHOT_CHUNK_BYTES_MAX, 16);
        for (let off = 0; off < body.byteLength; off += size) yield body.subarray(off, off + size);
      },
    };
  }

  async restoreSnapshot(index: number, term: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const c of chunks) parts.push(c);
    const entries = JSON.parse(Buffer.concat(parts).toString('utf8')) as [string, number][];
    await this.db.clear();
    this.values.clear();
    for (const [k, v] of entries) this.values.set(k, v);
    await this.db.batch([
      ...entries.map(([k, v]) => ({ type: 'put' as const, key: `k/${k}`, value: String(v) })),
      { type: 'put' as const, key: 'applied', value: JSON.stringify({ index, term }) },
    ], { sync: true });
    this.appliedAt = { index, term };
    this.restores++;
  }

  async flush(): Promise<void> {
    await this.db.put('applied', JSON.stringify(this.appliedAt), { sync: true });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
