import t from 'tap';
import { RAFT_ENTRIES_PER_APPEND_MAX } from '../../shared/limits.js';
import { Net, bytesOf, ents } from './harness.js';

t.test('replication: a new leader appends a no-op of its term and commits it (§8)', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  const log = n.core('a').log;
  t.equal(log.lastIndex(), 1);
  t.equal(log.entry(1)!.data.byteLength, 0);
  t.equal(log.committed, 1);
  // A commit alone sends nothing: followers learn it from the next append or heartbeat (one tick).
  t.equal(n.applied.get('b')!.length, 0, 'no append only to carry the commit index');
  n.tickAll(1);
  t.equal(n.applied.get('b')!.length, 1);
  t.equal(n.applied.get('c')!.length, 1);
});

t.test('log matching: a follower with conflicting entries is repaired to the leader log (§5.3, Figure 7)', async (t) => {
  const n = new Net(['a', 'b', 'c'], {
    logs: { a: ents(1, 1, 4, 4, 5, 5, 6, 6, 6), b: ents(1, 1, 4, 4, 5, 5, 6, 6), c: ents(1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3) },
    terms: { a: 8 },
  });
  n.elect('a');
  n.settle();
  n.tickAll(3);
  const want = n.core('a').log.entries.map((e) => `${e.index}/${e.term}`);
  for (const id of ['b', 'c']) t.same(n.core(id).log.entries.map((e) => `${e.index}/${e.term}`), want, `${id} matches`);
});

t.test('log matching: fast backtracking skips a whole conflicting term in one round trip', async (t) => {
  const n = new Net(['a', 'b'], { logs: { a: ents(1, 3, 3), b: ents(1, ...Array(60).fill(2)) }, terms: { a: 3 } });
  n.elect('a');
  n.settle();
  const rejects = n.delivered.filter((m) => m.type === 'appResp' && m.reject && m.from === 'b');
  t.ok(rejects.length <= 2, `${rejects.length} refusals`);
  t.same(n.core('b').log.entries.map((e) => e.term), n.core('a').log.entries.map((e) => e.term));
});

t.test('commit rule: an entry from an earlier term is not committed by counting replicas (§5.4.2, Figure 8)', async (t) => {
  // s1 leads term 2 with entry 2/2 on s1, s2; s5 leads term 3 with 2/3 on itself only; s1 leads term 4.
  const ids = ['s1', 's2', 's3', 's4', 's5'];
  const n = new Net(ids, { logs: { s1: ents(1, 2), s2: ents(1, 2), s3: ents(1), s4: ents(1), s5: ents(1, 3) }, terms: { s1: 3, s2: 3, s3: 3, s4: 3, s5: 3 } });
  for (const id of ids) n.core(id).log.committed = 1;
  // s1 is elected for term 4 (s1, s2, s3), but its appends reach only s3 before we look.
  n.drop = (m) => m.type === 'app' && m.to !== 's3';
  n.elect('s1');
  const s1 = n.core('s1');
  t.equal(s1.term, 4);
  t.equal(s1.log.term(2), 2);
  // Index 2 (term 2) is now on s1, s2, s3 — a majority — but the leader's own no-op (term 4) is only on s1, s3.
  t.equal(s1.log.committed, 1, 'entry 2 of term 2 is not committed although a majority stores it');
  n.heal();
  n.tickAll(2);
  t.equal(s1.log.committed, 3, 'it commits together with the no-op of term 4');
});

t.test('replication: an append carries at most RAFT_ENTRIES_PER_APPEND_MAX entries', async (t) => {
  const n = new Net(['a', 'b']);
  n.elect('a');
  n.drop = (m) => m.to === 'b';
  for (let i = 0; i < RAFT_ENTRIES_PER_APPEND_MAX * 2 + 10; i++) n.core('a').propose(bytesOf(`x${i}`));
  n.settle();
  n.heal();
  n.delivered = [];
  n.tickAll(10);
  const apps = n.delivered.filter((m) => m.type === 'app');
  t.ok(apps.length > 0 && apps.every((m) => m.type === 'app' && m.entries.length <= RAFT_ENTRIES_PER_APPEND_MAX));
  t.equal(n.core('b').log.lastIndex(), n.core('a').log.lastIndex());
});

t.test('replication: entries are handed out for persistence before the messages that depend on them', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  const a = n.core('a');
  a.propose(bytesOf('x'));
  const rd = a.ready();
  t.equal(rd.entries.length, 1, 'the new entry is in this Ready to persist');
  t.ok(rd.messages.some((m) => m.type === 'app' && m.entries.some((e) => e.index === rd.entries[0]!.index)));
  t.equal(rd.committed.length, 0, 'not committed before it is durable anywhere');
});

t.test('replication: a follower refuses to propose', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  t.same(n.core('b').propose(bytesOf('x')), { ok: false, reason: 'not-leader' });
});
