import t from 'tap';
import { makeBlockId } from '../../shared/block-id.js';
import { hash64, placeReplicas, writeQuorum } from '../../shared/placement.js';
import type { NodeInfo } from '../../shared/types.js';

/** Deterministic block ids: a fixed time range and counter-derived random bits (xorshift). */
function ids(n: number, seed = 1): string[] {
  let x = seed >>> 0 || 1;
  const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0);
  return Array.from({ length: n }, (_, i) =>
    makeBlockId(1_700_000_000_000 + i * 37, next().toString(16).padStart(8, '0') + next().toString(16).padStart(8, '0')));
}
function nodes(n: number, zones?: string[]): NodeInfo[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `n${i + 1}`, url: `ws://10.0.0.${i + 1}:7000`, ...(zones ? { zone: zones[i % zones.length]! } : {}),
  }));
}
const idsOf = (ns: NodeInfo[]) => ns.map((n) => n.id);

t.test('writeQuorum is a majority of r', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7].map(writeQuorum), [1, 2, 2, 3, 3, 4, 4]);
  t.throws(() => writeQuorum(0), { name: 'AssertionError' });
});

t.test('placement: same id and members give the same nodes, whatever the member order', async (t) => {
  const ms = nodes(7);
  const reversed = [...ms].reverse();
  const bad = ids(500).filter((id) => {
    const a = idsOf(placeReplicas(id, ms, 3)).join();
    return idsOf(placeReplicas(id, ms, 3)).join() !== a || idsOf(placeReplicas(id, reversed, 3)).join() !== a;
  });
  t.same(bad, []);
  // Pinned values: a change to the hash would move every block in existing clusters.
  t.same(hash64('0018bcfe5680-0000000000000001'), [2495158070, 3967932943]);
  t.same(idsOf(placeReplicas('0018bcfe5680-0000000000000001', ms, 3)), PINNED);
});
const PINNED = ['n3', 'n7', 'n1'];

t.test('placement: replicas are distinct nodes; fewer members than r gives all of them', async (t) => {
  const ms = nodes(5);
  t.same(ids(2000).filter((id) => new Set(idsOf(placeReplicas(id, ms, 3))).size !== 3), []);
  t.same(new Set(idsOf(placeReplicas(ids(1)[0]!, nodes(2), 3))), new Set(['n1', 'n2']));
  t.same(placeReplicas(ids(1)[0]!, [], 3), []);
  const dup = [...nodes(2), ...nodes(2)];
  t.equal(placeReplicas(ids(1)[0]!, dup, 3).length, 2, 'duplicate member ids count once');
});

t.test('placement: 100k blocks spread evenly over 10 nodes (chi-square, 9 dof)', async (t) => {
  const ms = nodes(10);
  const count = new Map<string, number>(ms.map((n) => [n.id, 0]));
  const first = new Map<string, number>(ms.map((n) => [n.id, 0]));
  const all = ids(100_000, 7);
  for (const id of all) {
    const p = placeReplicas(id, ms, 3);
    first.set(p[0]!.id, first.get(p[0]!.id)! + 1);
    for (const n of p) count.set(n.id, count.get(n.id)! + 1);
  }
  const chi = (m: Map<string, number>, total: number) => {
    const e = total / ms.length;
    return [...m.values()].reduce((s, o) => s + ((o - e) ** 2) / e, 0);
  };
  // 9 degrees of freedom: 27.9 is the p = 0.001 critical value. Replica counts are not independent
  // (three per block, distinct), which only lowers the statistic.
  const c1 = chi(first, all.length), c3 = chi(count, all.length * 3);
  t.ok(c1 < 27.9, `primaries chi-square ${c1.toFixed(2)}`);
  t.ok(c3 < 27.9, `replicas chi-square ${c3.toFixed(2)}`);
});

t.test('placement: adding an 11th node moves about 1/11 of the replicas, all onto the new node', async (t) => {
  const before = nodes(10), after = nodes(11);
  let moved = 0, total = 0, toOld = 0;
  for (const id of ids(20_000, 3)) {
    const a = new Set(idsOf(placeReplicas(id, before, 3)));
    const b = idsOf(placeReplicas(id, after, 3));
    for (const n of b) if (!a.has(n)) { moved++; if (n !== 'n11') toOld++; }
    total += 3;
  }
  t.equal(toOld, 0, 'no replica moves between old nodes');
  const frac = moved / total;
  t.ok(Math.abs(frac - 1 / 11) < 0.01, `moved ${(frac * 100).toFixed(2)}% of replicas (expect ${(100 / 11).toFixed(2)}%)`);
});

t.test('placement: removing a node moves only the replicas it held', async (t) => {
  const before = nodes(10);
  const after = before.filter((n) => n.id !== 'n4');
  let changed = 0;
  const bad: string[] = [];
  for (const id of ids(20_000, 5)) {
    const a = idsOf(placeReplicas(id, before, 3));
    const b = idsOf(placeReplicas(id, after, 3));
    if (!a.filter((n) => n !== 'n4').every((n) => b.includes(n))) bad.push(`${id}: lost a surviving replica`);
    if (a.includes('n4')) changed++;
    else if (a.join() !== b.join()) bad.push(`${id}: changed without losing n4`);
  }
  t.same(bad, []);
  t.ok(Math.abs(changed / 20_000 - 3 / 10) < 0.02, `changed ${changed} of 20000 placements`);
});

t.test('placement: replicas go to distinct zones when there are at least r zones', async (t) => {
  const ms = nodes(9, ['a', 'b', 'c']);
  const count = new Map<string, number>();
  const bad: string[] = [];
  for (const id of ids(10_000, 9)) {
    const p = placeReplicas(id, ms, 3);
    if (new Set(p.map((n) => n.zone)).size !== 3) bad.push(id);
    for (const n of p) count.set(n.id, (count.get(n.id) ?? 0) + 1);
  }
  t.same(bad, [], 'every placement spans three zones');
  // Zone spreading must not unbalance nodes within a zone: each of 9 nodes holds ~1/9 of 30k replicas.
  for (const [n, c] of count) t.ok(Math.abs(c - 30_000 / 9) < 250, `${n} holds ${c}`);
});

t.test('placement: with fewer zones than r, every zone is used once and the rest fill by score', async (t) => {
  const ms = nodes(6, ['a', 'b']);
  const bad = ids(2000, 11).filter((id) => {
    const p = placeReplicas(id, ms, 3);
    return new Set(p.map((n) => n.id)).size !== 3 || new Set(p.slice(0, 2).map((n) => n.zone)).size !== 2;
  });
  t.same(bad, []);
});

t.test('placement: a member without a zone counts as a zone of its own', async (t) => {
  const ms: NodeInfo[] = [
    { id: 'z1', url: 'u', zone: 'a' }, { id: 'z2', url: 'u', zone: 'a' }, { id: 'z3', url: 'u', zone: 'a' },
    { id: 'free', url: 'u' },
  ];
  t.same(ids(500, 13).filter((id) => !idsOf(placeReplicas(id, ms, 2)).includes('free')), []);
});
