import t from 'tap';
import { Net, ents } from './harness.js';

t.test('election: a follower that hears nothing campaigns and wins a majority (§5.2)', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  t.equal(n.core('a').role, 'leader');
  t.equal(n.core('a').term, 1);
  t.equal(n.core('b').lead, 'a');
  t.same(n.leaders(), ['a']);
});

t.test('election: timeouts are randomized in [e, 2e) ticks (§5.2)', async (t) => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 20; seed++) {
    const n = new Net(['a', 'b', 'c'], { seed });
    n.drop = () => true;
    let ticks = 0;
    while (n.core('a').role === 'follower') {
      n.tick('a');
      ticks++;
    }
    t.ok(ticks >= 10 && ticks < 20, `campaigned after ${ticks} ticks`);
    seen.add(ticks);
  }
  t.ok(seen.size > 3, 'timeouts differ between nodes');
});

t.test('election: a node grants one vote per term (§5.2)', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.core('b').step({ type: 'vote', from: 'a', to: 'b', term: 1, lastIndex: 0, lastTerm: 0 });
  n.core('b').step({ type: 'vote', from: 'c', to: 'b', term: 1, lastIndex: 0, lastTerm: 0 });
  const rd = n.core('b').ready();
  t.same(rd.hardState?.vote, 'a');
  t.same(rd.messages.map((m) => [m.to, m.type === 'voteResp' && m.reject]), [['a', false], ['c', true]]);
});

t.test('election: a candidate whose log is less up to date is refused (§5.4.1)', async (t) => {
  const n = new Net(['a', 'b', 'c'], { logs: { a: ents(1), b: ents(1, 2), c: ents(1, 2) } });
  n.tick('a', 30);
  t.not(n.core('a').role, 'leader');
  n.elect('b');
  t.equal(n.core('b').role, 'leader');
});

t.test('prevote: a partitioned node does not raise its term and cannot disrupt the leader when it returns (§9.6)', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  const term = n.core('a').term;
  n.isolate('c');
  n.tick('c', 100);
  t.equal(n.core('c').term, term, 'PreVote kept the isolated node at the cluster term');
  n.heal();
  n.tickAll(3);
  t.equal(n.core('a').role, 'leader');
  t.equal(n.core('a').term, term);
});

t.test('prevote: followers hearing from a leader ignore a higher-term vote request (leader stickiness, §4.2.3)', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  n.core('b').step({ type: 'vote', from: 'c', to: 'b', term: 9, lastIndex: 5, lastTerm: 5 });
  t.equal(n.core('b').term, 1);
  t.equal(n.core('b').ready().messages.length, 0);
});

t.test('checkquorum: a leader that cannot reach a majority steps down within an election timeout (§6.2)', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  n.isolate('a');
  n.tick('a', 21);
  t.equal(n.core('a').role, 'follower');
  t.equal(n.core('a').lead, null);
});

t.test('election: a stale leader learns the new term from a follower and steps down', async (t) => {
  const n = new Net(['a', 'b', 'c']);
  n.elect('a');
  n.isolate('a');
  for (let i = 0; i < 100 && n.core('b').role !== 'leader'; i++) {
    n.tick('c'); // c's lease on a runs out, so it will vote for b
    n.tick('b');
  }
  t.equal(n.core('b').role, 'leader');
  n.heal();
  n.tick('a'); // a heartbeats at its old term; the answer carries the new one
  t.equal(n.core('a').role, 'follower');
  t.equal(n.core('a').term, n.core('b').term);
  t.same(n.leaders(), ['b']);
});
