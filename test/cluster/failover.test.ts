import t, { type Test } from 'tap';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { checkAcked, leaderReader, MetaStream, readdirAll, replicaReader, waitCaughtUp } from './workload.js';

/** Polls the live nodes until one leads at a term above `oldTerm`; returns it and when it was seen. */
async function awaitNewLeader(c: TestCluster, oldTerm: number, timeoutMs: number): Promise<{ id: string; term: number }> {
  let found: { id: string; term: number } | null = null;
  await c.waitFor(async () => {
    for (const n of c.nodes) {
      if (!c.isRunning(n.id)) continue;
      const s = await c.status(n.id).catch(() => null);
      if (s && s.role === 'leader' && s.term > oldTerm) found = { id: s.node, term: s.term };
    }
    return found !== null;
  }, timeoutMs, 'a new leader');
  return found!;
}

/** Every live node holds the same root directory as the leader, once it has caught up. */
async function sameRootEverywhere(t: Test, c: TestCluster, leaderId: string): Promise<void> {
  const client = await c.client();
  const want = await readdirAll(leaderReader(client), 1);
  client.close();
  for (const n of c.nodes) {
    if (!c.isRunning(n.id) || n.id === leaderId) continue;
    await waitCaughtUp(c, n.id, leaderId);
    const got = await readdirAll(replicaReader(c, n.id), 1);
    t.same(got, want, `${n.id} holds the same root directory as leader ${leaderId} (${want.length} entries)`);
  }
}

t.test('cluster: leader SIGKILL mid-stream (R=3), then the old leader catches up through the log', async (t) => {
  const c = await startCluster(t, { nodes: 3 });
  const client = await c.client();
  const stream = await MetaStream.open(client, 'a');
  const first = await c.leader();
  const firstTerm = (await c.status(first)).term;

  const running = stream.run(8, 400, { needStop: true });
  await c.waitFor(() => stream.ops >= 120, 30_000, '120 acknowledged ops before the kill');
  const opsAtKill = stream.ops;
  const killedAt = Date.now();
  await c.kill(first, 'SIGKILL');
  const next = await awaitNewLeader(c, firstTerm, 15_000);
  const electionMs = Date.now() - killedAt;
  t.comment(`new leader ${next.id} (term ${next.term}) seen ${electionMs} ms after SIGKILL of leader ${first} (${opsAtKill} ops acknowledged before the kill)`);
  console.log(`cluster.failover.election_ms ${electionMs} ms`);
  t.not(next.id, first, 'another node leads');

  const opsAtElection = stream.ops;
  await c.waitFor(() => stream.ops >= opsAtElection + 80, 30_000, '80 more acknowledged ops under the new leader');
  stream.stop();
  await running;
  t.comment(`${stream.ops} ops acknowledged, ${client.retries} client retries, ${stream.failures.length} abandoned groups`);

  const problems = await checkAcked(leaderReader(client), stream.acked.values());
  t.same(problems, [], 'every acknowledged op is visible through the new leader');
  await sameRootEverywhere(t, c, next.id);
  const follower = c.nodes.find((n) => n.id !== first && n.id !== next.id)!.id;
  t.same(await checkAcked(replicaReader(c, follower), stream.acked.values()), [], `every acknowledged op is on follower ${follower}`);

  // The killed leader restarts with its data dir and catches up from the new leader's log.
  const more = await MetaStream.open(client, 'b');
  await more.run(4, 40);
  await c.restart(first);
  await waitCaughtUp(c, first, next.id);
  const st = await c.status(first);
  t.equal(st.role, 'follower', `${first} rejoined as a follower`);
  t.same(await checkAcked(replicaReader(c, first), [...stream.acked.values(), ...more.acked.values()]), [],
    `every acknowledged op is on the restarted ${first}`);
  await sameRootEverywhere(t, c, next.id);
  client.close();
});

t.test('cluster: a restarted follower catches up through a snapshot (--snapshot-entries 20, keep 5)', async (t) => {
  const c = await startCluster(t, { nodes: 3, snapshotEntries: 20, snapshotKeepEntries: 5 });
  const client = await c.client();
  const leader = await c.leader();
  const follower = c.nodes.find((n) => n.id !== leader)!.id;
  const before = await MetaStream.open(client, 'p');
  await before.run(4, 40);
  await c.kill(follower, 'SIGKILL');

  const during = await MetaStream.open(client, 'q');
  await during.run(8, 200);
  const ls = await c.status(leader);
  t.ok(ls.snapshotIndex > 0, `leader compacted its log (snapshot at ${ls.snapshotIndex}, last ${ls.lastIndex})`);

  await c.restart(follower);
  await waitCaughtUp(c, follower, leader);
  const fs = await c.status(follower);
  t.ok(fs.snapshotIndex > 0, `${follower} installed a snapshot (its snapshot index ${fs.snapshotIndex})`);
  t.match(c.logTail(leader, 400), new RegExp(`sending snapshot \\d+/\\d+ to ${follower}`), `leader ${leader} sent ${follower} a snapshot`);
  t.same(await checkAcked(replicaReader(c, follower), [...before.acked.values(), ...during.acked.values()]), [],
    `every acknowledged op is on ${follower} after the snapshot`);
  await sameRootEverywhere(t, c, leader);
  client.close();
});
