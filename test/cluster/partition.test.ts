import t from 'tap';
import { RpcError } from '../../shared/rpc/rpc-error.js';
import { ROOT_CRED } from '../../shared/types.js';
import { startCluster } from '../helpers/cluster.js';
import { checkAcked, leaderReader, MetaStream, readdirAll, replicaReader, waitCaughtUp } from './workload.js';

t.test('cluster: partition: isolate leader (R=3): the minority cannot commit, the majority can, then converge', async (t) => {
  const c = await startCluster(t, { nodes: 3, proxied: true });
  const client = await c.client();
  const before = await MetaStream.open(client, 'pre');
  await before.run(4, 40);
  const old = await c.leader();
  const oldTerm = (await c.status(old)).term;
  const majority = c.nodes.map((n) => n.id).filter((id) => id !== old);

  c.partition([[old], majority]);
  t.comment(`cut every peer link between ${old} and ${majority.join(',')}`);

  // A client on the minority side talks to the old leader directly (client links are not cut).
  const direct = await c.admin(old);
  const minorityWrite = direct.call('mkdir', { parent: 1, name: 'minority-write', mode: 0o755, cred: ROOT_CRED }, { timeoutMs: 4000 });
  const outcome = await minorityWrite.then(() => 'committed', (e: RpcError) => e.code);
  t.not(outcome, 'committed', `the isolated old leader cannot commit (its proposal ended with ${outcome})`);
  direct.close();

  // The majority elects a leader of a later term and commits.
  let newLeader = '';
  await c.waitFor(async () => {
    for (const id of majority) {
      const s = await c.status(id).catch(() => null);
      if (s?.role === 'leader' && s.term > oldTerm) newLeader = id;
    }
    return newLeader !== '';
  }, 15_000, 'the majority to elect a leader');
  t.comment(`majority elected ${newLeader}`);
  const majorityClient = await c.client({ only: majority });
  const after = await MetaStream.open(majorityClient, 'maj');
  await after.run(4, 40);
  t.ok(after.ops >= 40, `the majority committed ${after.ops} ops while ${old} was cut off`);
  t.same(await checkAcked(replicaReader(c, newLeader), after.acked.values()), [], 'they are on the new leader');
  const oldView = await c.call(old, 'localRead', { op: 'lookup', args: { parent: 1, name: 'maj0' } });
  t.match(oldView, { ok: false, errno: 'ENOENT' }, `${old} has not seen them while cut off`);

  c.heal();
  await c.waitFor(async () => (await c.status(old).catch(() => null))?.role === 'follower', 15_000, `${old} to step down after healing`);
  await waitCaughtUp(c, old, newLeader);
  t.same(await checkAcked(replicaReader(c, old), [...before.acked.values(), ...after.acked.values()]), [],
    `${old} converged: it holds every acknowledged op`);
  t.match(await c.call(old, 'localRead', { op: 'lookup', args: { parent: 1, name: 'minority-write' } }), { ok: false, errno: 'ENOENT' },
    'the minority write never took effect');
  const want = await readdirAll(leaderReader(majorityClient), 1);
  t.same(await readdirAll(replicaReader(c, old), 1), want, `${old} holds the same root directory as ${newLeader}`);
  client.close();
  majorityClient.close();
});
