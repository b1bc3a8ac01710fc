import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import t from 'tap';
import type { NodeInfo } from '../../shared/types.js';
import { NotLeaderError, RaftNode } from '../../storagenode/raft/driver.js';
import { KvStateMachine } from './kv-state-machine.js';

const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const IDS = ['n1', 'n2', 'n3'];
const MEMBERS: NodeInfo[] = IDS.map((id) => ({ id, url: `ws://127.0.0.1/${id}` }));

/** Three RaftNodes in one process on real LevelDB, joined by an in-memory wire that can be cut. */
class TestCluster {
  nodes = new Map<string, { raft: RaftNode; sm: KvStateMachine; logs: string[] }>();
  cut = new Set<string>();
  constructor(readonly dir: string) {}

  async start(id: string, opts: { snapshotEntries?: number; members?: NodeInfo[] } = {}): Promise<RaftNode> {
    const sm = await KvStateMachine.open(join(this.dir, id, 'sm'));
    const logs: string[] = [];
    const line = (m: string) => logs.push(m);
    const logger = { debug: line, info: line, warn: line, error: line, child: () => logger };
    const raft = await RaftNode.open({
      id, dir: join(this.dir, id, 'raft'), initialMembers: opts.members ?? MEMBERS, stateMachine: sm,
      tickMs: 10, electionTicks: 10, snapshotEntries: opts.snapshotEntries ?? 10_000, snapshotKeepEntries: 2, logger,
      send: (to, msg) => {
        if (this.cut.has(`${id}>${to}`) || this.cut.has(`${to}>${id}`)) return;
        const wire = packr.pack(msg); // the real wiring serialises with msgpack
        setImmediate(() => this.nodes.get(to)?.raft.receive(packr.unpack(wire)));
      },
    });
    this.nodes.set(id, { raft, sm, logs });
    return raft;
  }

  async stop(id: string): Promise<void> {
    const n = this.nodes.get(id)!;
    this.nodes.delete(id);
    await n.raft.close();
    await n.sm.close();
  }

  async leader(timeoutMs = 5000): Promise<RaftNode> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const ls = [...this.nodes.values()].filter((n) => n.raft.status().role === 'leader').map((n) => n.raft);
      const terms = new Set(ls.map((l) => l.status().term));
      if (ls.length >= 1) {
        const top = ls.sort((a, b) => b.status().term - a.status().term)[0]!;
        if (ls.length === 1 || terms.size > 1) return top;
      }
      await sleep(10);
    }
    throw new Error('no leader elected');
  }

  async until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.stop(id);
  }
}

async function withCluster(t: { teardown(fn: () => unknown): void }, fn: (c: TestCluster) => Promise<void>, opts: { snapshotEntries?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'tidefs-raft-'));
  const c = new TestCluster(dir);
  t.teardown(async () => {
    await c.closeAll();
    await rm(dir, { recursive: true, force: true });
  });
  for (const id of IDS) await c.start(id, opts);
  await fn(c);
}

const propose = (r: RaftNode, key: string, add = 1) => r.propose(KvStateMachine.command(key, add));

t.test('driver: elects one leader and applies proposals on every node (R=3)', async (t) => {
  await withCluster(t, async (c) => {
    const l = await c.leader();
    for (let i = 1; i <= 20; i++) t.equal(await propose(l, 'x'), i);
    const commit = l.status().commitIndex;
    await c.until(() => IDS.every((id) => c.nodes.get(id)!.sm.applied().index >= commit), 'followers to apply');
    for (const id of IDS) t.equal(c.nodes.get(id)!.sm.values.get('x'), 20, `${id} applied all 20`);
    t.match(c.nodes.get(l.status().id)!.logs.join('\n'), /elected leader for term \d+ after \d+ ms/);
  });
});

t.test('driver: propose on a follower rejects with NotLeaderError naming the leader', async (t) => {
  await withCluster(t, async (c) => {
    const l = await c.leader();
    await propose(l, 'x');
    const f = [...c.nodes.values()].map((n) => n.raft).find((r) => r !== l)!;
    await c.until(() => f.status().leader === l.status().id, 'the follower to know the leader');
    const e = await propose(f, 'x').catch((e: unknown) => e);
    t.ok(e instanceof NotLeaderError);
    t.equal((e as NotLeaderError).leaderId, l.status().id);
    t.rejects(f.readBarrier(), NotLeaderError);
  });
});

t.test('driver: readBarrier is linearizable and coalesces concurrent calls', async (t) => {
  await withCluster(t, async (c) => {
    const l = await c.leader();
    const sm = c.nodes.get(l.status().id)!.sm;
    const writes = Array.from({ length: 10 }, () => propose(l, 'y'));
    await Promise.all(writes);
    // Every write acknowledged before the barrier was called is visible after it resolves.
    const commitAtCall = l.status().commitIndex;
    await Promise.all(Array.from({ length: 50 }, () => l.readBarrier()));
    t.ok(sm.applied().index >= commitAtCall);
    t.equal(sm.values.get('y'), 10);
  });
});

t.test('driver: a restarted follower catches up through the log', async (t) => {
  await withCluster(t, async (c) => {
    const l = await c.leader();
    await propose(l, 'z');
    const victim = IDS.find((id) => id !== l.status().id)!;
    await c.stop(victim);
    for (let i = 0; i < 30; i++) await propose(l, 'z');
    const r = await c.start(victim);
    await c.until(() => c.nodes.get(victim)!.sm.values.get('z') === 31, 'the restarted node to catch up');
    t.equal(c.nodes.get(victim)!.sm.restores, 0, 'no snapshot was needed');
    t.equal(r.status().snapshotIndex, 0);
  });
});

t.test('driver: a restarted follower behind the compacted log catches up through a snapshot', async (t) => {
  await withCluster(t, async (c) => {
    const l = await c.leader();
    await propose(l, 's');
    const victim = IDS.find((id) => id !== l.status().id)!;
    await c.stop(victim);
    for (let i = 0; i < 60; i++) await propose(l, `s${i % 7}`);
    await c.until(() => l.status().snapshotIndex > 10, 'the leader to compact');
    await c.start(victim, { snapshotEntries: 10 });
    const n = c.nodes.get(victim)!;
    const installed = () => n.logs.some((x) => /installed snapshot at index \d+/.test(x));
    await c.until(() => installed() && n.sm.applied().index >= l.status().commitIndex, 'the restarted node to catch up');
    t.ok(n.sm.restores >= 1, 'installed a snapshot');
    t.same([...n.sm.values].sort(), [...c.nodes.get(l.status().id)!.sm.values].sort());
    t.match(n.logs.join('\n'), /installed snapshot at index \d+/);
    // And it keeps following through the log afterwards.
    await propose(l, 's');
    await c.until(() => n.sm.values.get('s') === 2, 'the next entry to arrive');
  }, { snapshotEntries: 10 });
});

t.test('cluster: partition: isolate leader (R=3): the majority elects another, the old leader steps down', async (t) => {
  await withCluster(t, async (c) => {
    const old = await c.leader();
    const oldId = old.status().id;
    await propose(old, 'p');
    for (const id of IDS) if (id !== oldId) c.cut.add(`${oldId}>${id}`);
    const stuck = propose(old, 'p').catch((e: unknown) => e);
    await c.until(() => old.status().role !== 'leader', 'CheckQuorum to depose the isolated leader');
    t.ok((await stuck) instanceof NotLeaderError, 'the write on the minority side failed');
    const nl = await c.leader();
    t.not(nl.status().id, oldId);
    t.equal(await propose(nl, 'p'), 2);
    c.cut.clear();
    await c.until(() => c.nodes.get(oldId)!.sm.values.get('p') === 2, 'the old leader to rejoin');
    t.equal(old.status().leader, nl.status().id);
  });
});

t.test('driver: membership: add a fourth node, then remove the leader', async (t) => {
  await withCluster(t, async (c) => {
    const l = await c.leader();
    await propose(l, 'm');
    await c.start('n4', { members: MEMBERS }); // joins empty; its bootstrap list does not include it
    t.equal(c.nodes.get('n4')!.raft.status().role, 'learner');
    await l.addMember({ id: 'n4', url: 'ws://127.0.0.1/n4' });
    t.same(l.members().map((m) => m.id), ['n1', 'n2', 'n3', 'n4']);
    await c.until(() => c.nodes.get('n4')!.sm.values.get('m') === 1, 'n4 to catch up');
    const lid = l.status().id;
    await l.removeMember(lid);
    const nl = await c.leader();
    t.not(nl.status().id, lid);
    t.same(nl.members().map((m) => m.id).sort(), IDS.concat('n4').filter((id) => id !== lid).sort());
    t.equal(await propose(nl, 'm'), 2);
  });
});

t.test('driver: invalid messages are dropped and logged, never thrown', async (t) => {
  await withCluster(t, async (c) => {
    const n = c.nodes.get('n1')!;
    for (const junk of [null, 1, 'x', [], { type: 'app' }, { type: 'vote', from: 'n2', to: 'n1', term: -1, lastIndex: 0, lastTerm: 0 }]) {
      t.doesNotThrow(() => n.raft.receive(junk));
    }
    t.ok(n.logs.some((l) => /dropped an invalid raft message/.test(l)));
  });
});
