import t from 'tap';
import { placeReplicas } from '../../../shared/placement.js';
import { BLOCK_COMMIT_AGE_MS_MAX } from '../../../shared/limits.js';
import { buildConfig, ConfigError } from '../../../storagenode/config.js';
import { drainComplete, exclusions, liveDrains, lostMembers, planPage, targetsOf, type PlacementView } from '../../../storagenode/repair/plan.js';
import { oldOrphans, underReplicated } from '../../../storagenode/repair/fsck.js';

const M = ['n1', 'n2', 'n3', 'n4'].map((id) => ({ id, url: `ws://127.0.0.1/${id}` }));
const view = (excluded: string[] = [], members = M): PlacementView => ({ members, excluded: new Set(excluded), replicas: 3 });
const ids = Array.from({ length: 200 }, (_, i) => `0000000${(1000 + i).toString(16)}-${'ab'.repeat(8)}${i.toString(16).padStart(4, '0')}`);

t.test('targetsOf: rendezvous placement over the members not excluded', async (t) => {
  for (const id of ids.slice(0, 20)) {
    t.same(targetsOf(id, view()), placeReplicas(id, M, 3).map((m) => m.id));
    const without = targetsOf(id, view(['n2']));
    t.notOk(without.includes('n2'), 'an excluded node is never a target');
    t.equal(without.length, 3);
    // Rendezvous: excluding n2 moves only the replica n2 had.
    for (const keep of targetsOf(id, view()).filter((x) => x !== 'n2')) t.ok(without.includes(keep));
  }
});

t.test('planPage: a target without a copy fetches it, targets first', async (t) => {
  const id = ids[0]!;
  const targets = targetsOf(id, view());
  const self = targets[0]!;
  const outsider = M.find((m) => !targets.includes(m.id))!.id;
  const holders = new Set([targets[1]!, outsider]);
  const p = planPage(self, view(), [{ id, holders }], new Set(M.map((m) => m.id)));
  t.same(p.actions, [{ kind: 'fetch', id, from: [targets[1]!, outsider] }]);
  t.equal(p.counts.underReplicated, 1);
  t.equal(p.counts.misplaced, 1);
});

t.test('planPage: a non-target drops its copy only when every target is reachable and holds one', async (t) => {
  const id = ids[1]!;
  const targets = targetsOf(id, view());
  const outsider = M.find((m) => !targets.includes(m.id))!.id;
  const all = new Set(M.map((m) => m.id));
  const full = new Set([...targets, outsider]);
  t.same(planPage(outsider, view(), [{ id, holders: full }], all).actions, [{ kind: 'drop', id }]);
  const partial = new Set([targets[0]!, targets[1]!, outsider]);
  t.same(planPage(outsider, view(), [{ id, holders: partial }], all).actions, [], 'keeps it while a target lacks a copy');
  const unreachable = new Set([...all].filter((x) => x !== targets[2]));
  t.same(planPage(outsider, view(), [{ id, holders: full }], unreachable).actions, [], 'keeps it while a target does not answer');
});

t.test('planPage: a draining node is no target; its copies move, then it drops them', async (t) => {
  const id = ids.find((x) => targetsOf(x, view()).includes('n1'))!;
  const newTargets = targetsOf(id, view(['n1']));
  const old = new Set(targetsOf(id, view()));
  const newcomer = newTargets.find((x) => !old.has(x))!;
  const all = new Set(M.map((m) => m.id));
  const p = planPage(newcomer, view(['n1']), [{ id, holders: old }], all);
  t.same(p.actions.map((a) => a.kind), ['fetch']);
  t.same(planPage('n1', view(['n1']), [{ id, holders: new Set([...old, newcomer]) }], all).actions, [{ kind: 'drop', id }]);
});

t.test('planPage: counts missing blocks and never fetches from nobody', async (t) => {
  const p = planPage('n1', view(), ids.slice(0, 10).map((id) => ({ id, holders: new Set<string>() })), new Set(['n1']));
  t.equal(p.counts.missing, 10);
  t.equal(p.counts.underReplicated, 10);
  t.same(p.actions, []);
});

t.test('lostMembers, exclusions and drains', async (t) => {
  const down = new Map([['n2', 1000], ['n3', 9000]]);
  t.same(lostMembers(M, 'n1', down, 10_000, 5000), ['n2'], 'down for the lost time or longer');
  t.same([...exclusions(M, ['n2'], [], 3)], ['n2'], '4 nodes, R=3: a lost node is excluded');
  t.same([...exclusions(M.slice(0, 3), ['n2'], [], 3)], [], '3 nodes, R=3: excluding would only hide the missing copy');
  t.same([...exclusions(M, ['n2', 'n3'], [], 3)], ['n2'], 'never below R eligible members');
  t.same([...exclusions(M.slice(0, 3), [], ['n3'], 3)], ['n3'], 'a drain is always honoured');
  t.same(liveDrains(new Map([['n1', 5000], ['n2', 100], ['n9', 5000]]), M, 1000), ['n1'], 'expired and non-member drains lapse');
  t.ok(drainComplete({ done: true, startedAtMs: 10, held: 0, underReplicated: 0 }, 5));
  t.notOk(drainComplete({ done: true, startedAtMs: 4, held: 0, underReplicated: 0 }, 5), 'a round that began before the drain proves nothing');
});

t.test('fsck: under-replicated blocks and old orphans', async (t) => {
  const id = ids[2]!;
  const targets = targetsOf(id, view());
  t.same(underReplicated([{ id, holders: new Set(targets) }], view()), []);
  t.same(underReplicated([{ id, holders: new Set(targets.slice(1)) }], view()), [{ id, lacking: [targets[0]!], holders: targets.slice(1) }]);
  const young = `${(Date.now()).toString(16).padStart(11, '0')}-${'cd'.repeat(8)}`;
  const old = `${(Date.now() - 10_000_000).toString(16).padStart(11, '0')}-${'ef'.repeat(8)}`;
  t.same(oldOrphans([young, old, id], new Set([id]), Date.now(), 3_600_000), [old]);
});

t.test('config: --gc-grace-ms at or below the commit age limit is refused with a reason', async (t) => {
  const base = { id: 'n1', listen: '127.0.0.1:7101', data: '/tmp/x', peers: 'n1=ws://127.0.0.1:7101' };
  t.throws(() => buildConfig({}, { ...base, gcGraceMs: String(BLOCK_COMMIT_AGE_MS_MAX) }), ConfigError);
  t.throws(() => buildConfig({}, { ...base, gcGraceMs: '1000' }), /must be above/);
  t.equal(buildConfig({}, { ...base, gcGraceMs: String(BLOCK_COMMIT_AGE_MS_MAX + 1) }).gcGraceMs, BLOCK_COMMIT_AGE_MS_MAX + 1);
  t.equal(buildConfig({}, base).lostAfterMs, 300_000);
  t.equal(buildConfig({}, { ...base, join: 'true' }).join, true);
});
