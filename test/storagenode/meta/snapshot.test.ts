import t from 'tap';
import { SNAPSHOT_CHUNK_BYTES_MAX } from '../../../shared/limits.js';
import { MemKv } from '../../../storagenode/meta/mem-kv.js';
import { K } from '../../../storagenode/meta/keys.js';
import { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';
import { Harness, ROOT } from './harness.js';
import { describeTree } from './tree.js';

async function populate(h: Harness): Promise<void> {
  const s = await h.session();
  for (let i = 0; i < 30; i++) {
    const d = await h.mkdir(1, `d${i}`);
    const f = await h.create(d.ino, 'f');
    await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 10, block: h.block(), off: 0 }], cred: ROOT });
    await h.must('setxattr', { ino: f.ino, name: 'user.big', value: Buffer.alloc(60_000, i), flags: 0, cred: ROOT });
  }
  const o = await h.create(1, 'orphan');
  await h.must('open', { ino: o.ino, flags: 0, cred: ROOT, session: s });
  await h.must('unlink', { parent: 1, name: 'orphan', cred: ROOT });
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c);
  return out;
}

t.test('an exported image restores to the same tree, applied index and usage', async (t) => {
  const h = await Harness.create();
  await populate(h);
  const img = h.sm.exportSnapshot();
  t.same({ index: img.index, term: img.term }, h.sm.applied());
  const chunks = await collect(img.chunks());
  t.ok(chunks.length > 1, 'a big image comes in several chunks');
  for (const c of chunks) t.ok(c.byteLength <= SNAPSHOT_CHUNK_BYTES_MAX, 'each chunk within the limit');

  const other = await MetaStateMachine.memory();
  await other.restoreSnapshot(img.index, img.term, (async function* () { yield* chunks; })());
  t.same(other.applied(), h.sm.applied());
  t.same(other.usage(), h.sm.usage());
  t.same(await describeTree(other), await describeTree(h.sm));
});

t.test('the image is frozen when taken: later applies do not leak into it', async (t) => {
  const h = await Harness.create();
  await h.mkdir(1, 'before');
  const img = h.sm.exportSnapshot();
  await h.mkdir(1, 'after');
  const other = await MetaStateMachine.memory();
  await other.restoreSnapshot(img.index, img.term, img.chunks());
  const r = await other.query('readdir', { ino: 1 });
  t.same(r.ok && r.value.entries.map((e) => e.name), ['before']);
  t.same(other.applied(), { index: 1, term: 1 });
});

t.test('a snapshot taken while a batch is being written is of that entry', async (t) => {
  const h = await Harness.create();
  const pending = h.run('mkdir', { parent: 1, name: 'x', mode: 0o755, cred: ROOT });
  await new Promise((r) => setImmediate(r));
  const img = h.sm.exportSnapshot();
  await pending;
  const other = await MetaStateMachine.memory();
  await other.restoreSnapshot(img.index, img.term, img.chunks());
  const names = await other.query('readdir', { ino: 1 });
  const count = names.ok ? names.value.entries.length : -1;
  t.equal(count, img.index, 'entries in the image match its index (0 or 1)');
});

t.test('restore replaces existing state, and continued applies work on the restored store', async (t) => {
  const a = await Harness.create();
  await a.mkdir(1, 'from-a');
  const b = await Harness.create();
  await b.mkdir(1, 'only-b');
  await b.mkdir(1, 'only-b2');
  const img = a.sm.exportSnapshot();
  await b.sm.restoreSnapshot(img.index, img.term, img.chunks());
  t.same(await b.names(1), ['from-a']);
  b.index = img.index;
  await b.mkdir(1, 'next');
  t.same(await b.names(1), ['from-a', 'next']);
});

t.test('a restore that crashed part-way is detected on reopen and the store starts empty', async (t) => {
  const kv = new MemKv();
  const sm = await MetaStateMachine.memory(kv);
  const h = new Harness(sm);
  await h.mkdir(1, 'a');
  const chunks = await collect(h.sm.exportSnapshot().chunks());
  const target = new MemKv();
  const tsm = await MetaStateMachine.memory(target);
  async function* dying() {
    yield chunks[0]!;
    throw new Error('connection lost');
  }
  await t.rejects(tsm.restoreSnapshot(5, 2, dying()));
  t.ok(await target.get(K.restoring()), 'the marker stays behind');
  let seen: unknown;
  const reopened = await MetaStateMachine.over(target.reopen(), { onInterruptedRestore: (m) => (seen = m) });
  t.same(seen, { index: 5, term: 2 });
  t.same(reopened.applied(), { index: 0, term: 0 });
  t.same(await new Harness(reopened).names(1), []);
});

t.test('a malformed image is refused with an error', async (t) => {
  const sm = await MetaStateMachine.memory();
  await t.rejects(sm.restoreSnapshot(3, 1, (async function* () { yield Buffer.from([0x93, 1, 2, 3]); })()));
});
