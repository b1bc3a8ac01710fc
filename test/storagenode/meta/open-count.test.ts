import t from 'tap';
import { K } from '../../../storagenode/meta/keys.js';
import { MemKv } from '../../../storagenode/meta/mem-kv.js';
import { META_FORMAT } from '../../../storagenode/meta/format.js';
import { pack, unpack } from '../../../storagenode/meta/records.js';
import { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';
import { Harness, ROOT } from './harness.js';

const O_RDONLY = 0;

t.test('an unlinked file lives while any session holds it open, counted per session', async (t) => {
  const h = await Harness.create();
  const s1 = await h.session();
  const s2 = await h.session();
  const f = await h.create(1, 'f');
  await h.must('open', { ino: f.ino, flags: O_RDONLY, cred: ROOT, session: s1 });
  await h.must('open', { ino: f.ino, flags: O_RDONLY, cred: ROOT, session: s1 });
  await h.must('open', { ino: f.ino, flags: O_RDONLY, cred: ROOT, session: s2 });
  await h.must('unlink', { parent: 1, name: 'f', cred: ROOT });
  await h.must('release', { ino: f.ino, session: s1 });
  await h.must('release', { ino: f.ino, session: s1 });
  t.equal((await h.q('getattr', { ino: f.ino })).ok, true, 'the other session still has it open');
  await h.must('sessionClose', { session: s2 });
  t.same(await h.q('getattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' }, 'gone with the last session');
  // A release of an open that was never registered must not drive the count below the truth.
  const g = await h.create(1, 'g');
  await h.must('open', { ino: g.ino, flags: O_RDONLY, cred: ROOT, session: s1 });
  await h.must('release', { ino: g.ino, session: s1 });
  await h.must('release', { ino: g.ino, session: s1 });
  await h.must('open', { ino: g.ino, flags: O_RDONLY, cred: ROOT, session: s1 });
  await h.must('unlink', { parent: 1, name: 'g', cred: ROOT });
  t.equal((await h.q('getattr', { ino: g.ino })).ok, true, 'still open after a stray release');
});

t.test('a store of layout 1 gets its open counts when it is opened', async (t) => {
  const kv = new MemKv();
  await MetaStateMachine.over(kv);
  t.equal(unpack<number>((await kv.get(K.format()))!), META_FORMAT, 'a new store starts at the current layout');
  // As a layout-1 store looked: o/ records, no n/ counts, no m/format.
  await kv.write([
    { type: 'del', key: K.format() },
    { type: 'put', key: K.open(7, 'aaaaaaaaaaaa'), value: pack(2) },
    { type: 'put', key: K.open(7, 'bbbbbbbbbbbb'), value: pack(1) },
    { type: 'put', key: K.open(9, 'aaaaaaaaaaaa'), value: pack(1) },
  ]);
  await MetaStateMachine.over(kv);
  t.equal(unpack<number>((await kv.get(K.openCount(7)))!), 2);
  t.equal(unpack<number>((await kv.get(K.openCount(9)))!), 1);
  t.equal(await kv.get(K.openCount(8)), undefined);
  t.equal(unpack<number>((await kv.get(K.format()))!), META_FORMAT);
  await kv.write([{ type: 'put', key: K.format(), value: pack(META_FORMAT + 1) }]);
  await t.rejects(MetaStateMachine.over(kv), new RegExp(`layout version ${META_FORMAT + 1}`), 'a newer layout is refused, not misread');
});
