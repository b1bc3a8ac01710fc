import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';
import { Harness, ROOT } from './harness.js';
import { describeTree } from './tree.js';

t.test('reopening the LevelDB store shows the same tree and applied index', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tidefs-meta-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const h = new Harness(await MetaStateMachine.open(dir));
  const d = await h.mkdir(1, 'd');
  const f = await h.create(d.ino, 'f');
  await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 3, block: h.block(), off: 0 }], cred: ROOT });
  await h.must('setxattr', { ino: f.ino, name: 'user.k', value: Buffer.from('v'), flags: 0, cred: ROOT });
  await h.must('symlink', { parent: 1, name: 'l', target: 'd/f', cred: ROOT });
  await h.sm.flush();
  const before = await describeTree(h.sm);
  const applied = h.sm.applied();
  const usage = h.sm.usage();
  await h.sm.close();

  const again = await MetaStateMachine.open(dir);
  t.same(again.applied(), applied);
  t.same(again.usage(), usage);
  t.same(await describeTree(again), before);
  const h2 = new Harness(again);
  h2.index = applied.index;
  await h2.mkdir(1, 'later');
  t.same(await h2.names(1), ['d', 'l', 'later']);
  await again.close();
});

t.test('LevelDB snapshot export restores into a fresh LevelDB store', async (t) => {
  const d1 = mkdtempSync(join(tmpdir(), 'tidefs-meta-'));
  const d2 = mkdtempSync(join(tmpdir(), 'tidefs-meta-'));
  t.teardown(() => { rmSync(d1, { recursive: true, force: true }); rmSync(d2, { recursive: true, force: true }); });
  const h = new Harness(await MetaStateMachine.open(d1));
  for (let i = 0; i < 10; i++) await h.mkdir(1, `d${i}`);
  const img = h.sm.exportSnapshot();
  await h.mkdir(1, 'not-in-image');
  const other = await MetaStateMachine.open(d2);
  await other.restoreSnapshot(img.index, img.term, img.chunks());
  t.equal((await describeTree(other)).length, 11);
  await other.close();
  await h.sm.close();
  const reopened = await MetaStateMachine.open(d2);
  t.same(reopened.applied(), { index: img.index, term: img.term });
  await reopened.close();
});

t.test('replaying an entry at or below applied changes nothing', async (t) => {
  const h = await Harness.create();
  await h.mkdir(1, 'a');
  h.index = 0;
  t.same(await h.run('mkdir', { parent: 1, name: 'b', mode: 0o755, cred: ROOT }), { ok: false, errno: 'EINVAL' });
  t.same(await h.names(1), ['a']);
});
