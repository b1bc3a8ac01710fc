import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';

/**
 * `node dist/test/soak/level-tombstones.js`: what an empty-prefix scan costs in LevelDB after many
 * records of that key space were put and deleted, as the metadata store's `o/<ino>/<session>` open
 * records are (put by create, deleted by release). Unlink asks `isEmptyPrefix(o/<ino>/)` (hasOpens),
 * and LevelDB's iterator skips every deleted key after the seek position before it can report "no
 * more keys", whatever upper bound the caller gives, until compaction drops the tombstones
 * (docs/perf-soak.md).
 */
const hex = (i: number) => i.toString(16).padStart(16, '0');

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidefs-tombstones-'));
  const db = new Level<string, string>(join(dir, 'db'));
  await db.open();
  let n = 0;
  for (const target of [1_000, 5_000, 20_000, 100_000]) {
    for (; n < target; n += 500) {
      const put = db.batch();
      for (let i = n; i < n + 500; i++) put.put(`o/${hex(i)}/s1`, '1');
      await put.write();
      const del = db.batch();
      for (let i = n; i < n + 500; i++) del.del(`o/${hex(i)}/s1`);
      await del.write();
    }
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < 200; k++) {
      const ino = Math.floor(Math.random() * n);
      const it = db.iterator({ gte: `o/${hex(ino)}/`, lt: `o/${hex(ino)}0`, limit: 1 });
      if (await it.next()) throw new Error('a deleted key was found');
      await it.close();
    }
    console.log(`tombstones_${n} ${(Number(process.hrtime.bigint() - t0) / 1e3 / 200).toFixed(0)} us/empty_prefix_scan`);
  }
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}

void main();
