import t from 'tap';
import { RaftCore } from '../../storagenode/raft/core.js';
import { seededRng } from '../../storagenode/raft/rng.js';
import { Net, bytesOf, info } from './harness.js';

t.test('readindex: the leader answers with its commit index after a heartbeat quorum (§6.4)', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  n.core('a').propose(bytesOf('x'));
  n.settle();
  t.ok(n.core('a').readIndex(7));
  n.settle();
  t.same(n.readStates.get('a'), [{ index: 2, ctx: 7 }]);
});

t.test('readindex: a leader cut off from the majority never answers', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  n.isolate('a');
  n.core('a').readIndex(1);
  n.tick('a', 5);
  t.same(n.readStates.get('a'), []);
});

t.test('readindex: a new leader answers only after committing an entry of its term (§6.4)', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.drop = (m) => m.type === 'app'; // the no-op cannot commit
  n.elect('a');
  t.ok(n.core('a').readIndex(3));
  n.tick('a', 3);
  t.same(n.readStates.get('a'), [], 'held back while the no-op is uncommitted');
  n.heal();
  n.tick('a', 2);
  t.same(n.readStates.get('a'), [{ index: 1, ctx: 3 }]);
});

t.test('readindex: a follower refuses', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  t.notOk(n.core('b').readIndex(1));
});

t.test('snapshot: a follower behind the compacted log gets InstallSnapshot and then the rest (§7)', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  n.isolate('c');
  for (let i = 0; i < 20; i++) n.core('a').propose(bytesOf(`x${i}`));
  n.settle();
  n.core('a').compact(15);
  t.equal(n.core('a').log.firstIndex(), 16);
  n.heal();
  const c = n.core('c');
  let installed = null as null | { index: number };
  n.drop = (m) => {
    if (m.type === 'snap' && m.to === 'c') installed = m.snapshot;
    return false;
  };
  n.tickAll(3);
  t.ok(installed && installed.index >= 15, 'a snap message went to c');
  t.equal(c.log.snap.index, installed!.index, 'c restarted its log at the snapshot');
  t.equal(c.log.lastIndex(), n.core('a').log.lastIndex());
  t.equal(c.log.committed, n.core('a').log.committed);
});

t.test('snapshot: a snapshot at or below the commit index is ignored', async (t) => {
  const n = new Net(['a', 'b']);
  n.elect('a');
  for (let i = 0; i < 5; i++) n.core('a').propose(bytesOf(`x${i}`));
  n.settle();
  const b = n.core('b');
  b.step({ type: 'snap', from: 'a', to: 'b', term: 1, snapshot: { index: 3, term: 1, members: [info('a'), info('b')] } });
  const rd = b.ready();
  t.equal(rd.snapshot, undefined);
  t.equal(b.log.firstIndex(), 1);
});

t.test('snapshot: compaction never passes the applied index', async (t) => {
  const c = new RaftCore({ id: 'a', rng: seededRng(1), electionTicks: 10, heartbeatTicks: 1, snapshot: { index: 0, term: 0, members: [info('a')] } });
  c.tick(); for (let i = 0; i < 30; i++) c.tick();
  const rd = c.ready();
  c.advance(rd);
  c.propose(bytesOf('x'));
  c.compact(100);
  t.ok(c.log.snap.index <= c.log.applied);
});

t.test('membership: a configuration takes effect when appended, before it commits (dissertation §4.1)', async (t) => {
  const n = new Net(['a', 'b', 'c'], { members: ['a', 'b', 'c'] });
  n.elect('a');
  n.drop = () => true;
  const r = n.core('a').proposeConfChange({ type: 'add', node: info('d') });
  t.ok(r.ok);
  t.same(n.core('a').members().map((m) => m.id), ['a', 'b', 'c', 'd']);
  t.equal(n.core('a').log.committed, 1);
  t.same(n.core('a').proposeConfChange({ type: 'remove', id: 'b' }), { ok: false, reason: 'conf-pending' }, 'one change at a time');
});

t.test('membership: a configuration entry that is overwritten stops applying (dissertation §4.1)', async (t) => {
  const all = ['a', 'b', 'c'].map(info);
  const b = new RaftCore({
    id: 'b', rng: seededRng(1), electionTicks: 10, heartbeatTicks: 1, snapshot: { index: 0, term: 0, members: all },
    entries: [
      { index: 1, term: 1, type: 'normal', data: new Uint8Array(0) },
      { index: 2, term: 1, type: 'conf', data: new Uint8Array(0), members: all.filter((m) => m.id !== 'c') },
    ],
    hardState: { term: 1, vote: null, commit: 1 },
  });
  t.same(b.members().map((m) => m.id), ['a', 'b']);
  b.step({ type: 'app', from: 'c', to: 'b', term: 2, prevIndex: 1, prevTerm: 1, commit: 1, entries: [{ index: 2, term: 2, type: 'normal', data: new Uint8Array(0) }] });
  t.same(b.members().map((m) => m.id), ['a', 'b', 'c'], 'back to the configuration before the overwritten entry');
});

t.test('membership: a removed leader steps down once the change commits, and another is elected (§4.2.2)', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  t.ok(n.core('a').proposeConfChange({ type: 'remove', id: 'a' }).ok);
  n.settle();
  t.equal(n.core('a').role, 'follower');
  t.same(n.core('b').members().map((m) => m.id), ['b', 'c']);
  for (let i = 0; i < 100 && !n.leaders().length; i++) n.tickAll();
  t.ok(['b', 'c'].includes(n.leaders()[0]!));
  n.tick('a', 50);
  t.not(n.core('a').role, 'leader', 'the removed node does not campaign');
});

t.test('membership: a node added to the cluster catches up and counts toward the quorum', async (t) => {
  const n = new Net(['a', 'b', 'c', 'd'], { members: ['a', 'b', 'c'] });
  n.elect('a');
  t.ok(n.core('a').proposeConfChange({ type: 'add', node: info('d') }).ok);
  n.settle();
  t.same(n.core('d').members().map((m) => m.id), ['a', 'b', 'c', 'd']);
  n.drop = (m) => m.to === 'b' || m.to === 'c';
  n.core('a').propose(bytesOf('y'));
  n.settle();
  t.equal(n.core('a').log.committed, 2, 'a and d are 2 of 4: not a majority');
});
