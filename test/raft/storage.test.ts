import { appendFileSync, openSync, closeSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { Packr } from 'msgpackr';
import t from 'tap';
import type { NodeInfo } from '../../shared/types.js';
import { PREALLOC_BYTES } from '../../storagenode/raft/entry-file.js';
import { RaftStorage } from '../../storagenode/raft/storage.js';
import type { Entry } from '../../storagenode/raft/types.js';

const MEMBERS: NodeInfo[] = [{ id: 'n1', url: 'ws://127.0.0.1/n1' }];
const ent = (index: number, term: number, data = `e${index}`): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(data) });
const show = (es: Entry[]) => es.map((e) => `${e.index}/${e.term}/${new TextDecoder().decode(e.data)}`);

async function withDir(t: { teardown(fn: () => unknown): void }, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tidefs-raft-storage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await fn(join(dir, 'raft'));
}

/** Where the records end: the zeros the file is kept written with follow. */
function recordsEnd(file: string): number {
  const b = readFileSync(file);
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return end;
}

function writeAt(file: string, at: number, bytes: number[]): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from(bytes), 0, bytes.length, at);
  closeSync(fd);
}

async function reopen(dir: string) {
  const s = await RaftStorage.open(dir);
  return { s, loaded: await s.load(MEMBERS) };
}

t.test('storage: entries, a conflicting suffix and the hard state survive a reopen', async (t) => {
  await withDir(t, async (dir) => {
    let { s, loaded } = await reopen(dir);
    t.ok(loaded.fresh);
    await s.save({ term: 1, vote: 'n1', commit: 0 }, [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1)]);
    await s.save(undefined, [ent(3, 2, 'x3')]); // a new leader replaces 3.. (4 is stale)
    await s.save({ term: 2, vote: null, commit: 3 }, [ent(4, 2, 'x4'), ent(5, 2, 'x5')]);
    await s.save({ term: 2, vote: null, commit: 5 }, []); // commit only: not written by itself
    await s.close();
    ({ s, loaded } = await reopen(dir));
    t.same(show(loaded.entries), ['1/1/e1', '2/1/e2', '3/2/x3', '4/2/x4', '5/2/x5']);
    t.same(loaded.hardState, { term: 2, vote: null, commit: 5 }, 'close wrote the latest commit index');
    await s.close();
  });
});

t.test('storage: a commit index written with a vote never counts on that write\'s entries', async (t) => {
  await withDir(t, async (dir) => {
    const { s } = await reopen(dir);
    await s.save({ term: 1, vote: 'n1', commit: 0 }, [ent(1, 1)]);
    await s.save({ term: 2, vote: 'n1', commit: 2 }, [ent(2, 2)]);
    const db = (s as unknown as { db: Level<string, Uint8Array> }).db;
    const hs = new Packr({ mapsAsObjects: true }).unpack((await db.get('hs'))!) as { commit: number };
    t.equal(hs.commit, 1);
    await s.close();
  });
});

t.test('storage: a torn last record is cut off at open; later writes continue after the good ones', async (t) => {
  await withDir(t, async (dir) => {
    let { s } = await reopen(dir);
    await s.save({ term: 1, vote: 'n1', commit: 0 }, [ent(1, 1), ent(2, 1), ent(3, 1)]);
    await s.close();
    const file = join(dir, 'entries');
    truncateSync(file, recordsEnd(file) - 2); // entry 3 half written
    let loaded;
    ({ s, loaded } = await reopen(dir));
    t.same(show(loaded.entries), ['1/1/e1', '2/1/e2']);
    await s.save(undefined, [ent(3, 1, 'again')]);
    await s.close();
    const end = recordsEnd(file);
    writeAt(file, end, [5, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 9]); // garbage in the zeros: bad CRC
    ({ s, loaded } = await reopen(dir));
    t.same(show(loaded.entries), ['1/1/e1', '2/1/e2', '3/1/again']);
    t.equal(statSync(file).size, end, 'cut where the good records end');
    await s.save(undefined, [ent(4, 1)]);
    await s.close();
    appendFileSync(file, Buffer.from([7])); // past the zeros: a record whose start was never written
    ({ s, loaded } = await reopen(dir));
    t.same(show(loaded.entries), ['1/1/e1', '2/1/e2', '3/1/again', '4/1/e4']);
    await s.close();
  });
});

t.test('storage: the entry file is kept zeroed past its records, across reopens and past the first stretch', async (t) => {
  await withDir(t, async (dir) => {
    let { s, loaded } = await reopen(dir);
    await s.save({ term: 1, vote: 'n1', commit: 0 }, [ent(1, 1)]);
    const file = join(dir, 'entries');
    const end1 = recordsEnd(file);
    t.equal(statSync(file).size, end1 + PREALLOC_BYTES, 'the first append brings a stretch of zeros');
    await s.save(undefined, [ent(2, 1)]);
    t.equal(statSync(file).size, end1 + PREALLOC_BYTES, 'an append inside the zeros does not grow the file');
    await s.close();
    ({ s, loaded } = await reopen(dir));
    t.equal(statSync(file).size, end1 + PREALLOC_BYTES, 'a clean reopen keeps the zeros');
    // Entries of 100 KiB each run past the first stretch twice over.
    const big = 'b'.repeat(100 * 1024);
    let index = 3;
    for (let i = 0; i < 25; i++, index++) await s.save(undefined, [ent(index, 1, `${index}${big}`)]);
    await s.close();
    ({ s, loaded } = await reopen(dir));
    t.equal(loaded.entries.length, index - 1);
    t.ok(loaded.entries.slice(2).every((e, i) => new TextDecoder().decode(e.data) === `${i + 3}${big}`), 'every big entry reads back');
    t.ok(statSync(file).size > recordsEnd(file), 'still zeros past the records');
    await s.close();
  });
});

t.test('storage: compaction keeps the entries after the point; a snapshot install empties the log', async (t) => {
  await withDir(t, async (dir) => {
    let { s, loaded } = await reopen(dir);
    await s.save({ term: 1, vote: 'n1', commit: 0 }, Array.from({ length: 10 }, (_, i) => ent(i + 1, 1)));
    await s.compact({ index: 6, term: 1, members: MEMBERS });
    await s.save(undefined, [ent(11, 1)]);
    await s.close();
    ({ s, loaded } = await reopen(dir));
    t.equal(loaded.snapshot.index, 6);
    t.same(loaded.entries.map((e) => e.index), [7, 8, 9, 10, 11]);
    await s.beginSnapshot({ index: 20, term: 3, members: MEMBERS });
    await s.finishSnapshot({ index: 20, term: 3, members: MEMBERS });
    await s.save({ term: 3, vote: null, commit: 20 }, [ent(21, 3)]);
    await s.close();
    ({ s, loaded } = await reopen(dir));
    t.equal(loaded.snapshot.index, 20);
    t.same(show(loaded.entries), ['21/3/e21']);
    await s.close();
  });
});

t.test('storage: entries a previous version kept in LevelDB move into the entry file', async (t) => {
  await withDir(t, async (dir) => {
    const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' });
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
    await db.put('snap', packr.pack({ index: 2, term: 1, members: MEMBERS }));
    await db.put('hs', packr.pack({ term: 1, vote: 'n1', commit: 4 }));
    for (const e of [ent(2, 1), ent(3, 1), ent(4, 1)]) await db.put(`e/${String(e.index).padStart(16, '0')}`, packr.pack(e));
    await db.close();
    let { s, loaded } = await reopen(dir);
    t.same(show(loaded.entries), ['3/1/e3', '4/1/e4']);
    await s.save(undefined, [ent(5, 1)]);
    await s.close();
    ({ s, loaded } = await reopen(dir));
    t.same(show(loaded.entries), ['3/1/e3', '4/1/e4', '5/1/e5']);
    t.equal(loaded.hardState.commit, 4);
    await s.close();
  });
});
