import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { makeBlockId } from '../../shared/block-id.js';
import { silentLogger } from '../../shared/log.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/handshake.js';
import type { ChangedPush } from '../../shared/protocol/ops.js';
import { RpcConnection } from '../../shared/rpc/connection.js';
import { ROOT_CRED, S_IFREG } from '../../shared/types.js';
import { ClusterClient as Client } from '../../client/rpc/cluster-client.js';
import { startCluster, TEST_CLUSTER_ID, type TestCluster } from '../helpers/cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A real client (client/rpc) that records the `changed` pushes it is given. */
class Listener {
  readonly client: Client;
  pushes: ChangedPush[] = [];
  alls = 0;
  constructor(c: TestCluster, name: string) {
    this.client = new Client({ urls: c.urls, clientName: name, cluster: TEST_CLUSTER_ID, logger: silentLogger, retryMsMax: 20_000 });
    this.client.onPush = (p, d) => {
      if (p !== 'changed') return;
      const ch = d as ChangedPush;
      if (ch.all) this.alls++;
      else this.pushes.push(ch);
    };
  }
  inos(): Set<number> {
    return new Set(this.pushes.flatMap((p) => p.inos));
  }
  entries(): Set<string> {
    return new Set(this.pushes.flatMap((p) => p.entries.map(([d, n]) => `${d}/${n}`)));
  }
  reset(): void {
    this.pushes = [];
    this.alls = 0;
  }
  /** Waits (up to `ms`) until the pushes so far name every expected inode and entry. */
  async expect(t: Test, what: string, inos: number[], entries: [number, string][], ms = 1000): Promise<void> {
    const t0 = Date.now();
    const has = () => inos.every((i) => this.inos().has(i)) && entries.every(([d, n]) => this.entries().has(`${d}/${n}`));
    while (!has() && Date.now() - t0 < ms) await sleep(5);
    t.ok(has(), `${what}: inos ${JSON.stringify(inos)} entries ${JSON.stringify(entries)} pushed within ${ms} ms ` +
      `(got inos ${JSON.stringify([...this.inos()])} entries ${JSON.stringify([...this.entries()])} after ${Date.now() - t0} ms)`);
  }
}

const cred = ROOT_CRED;

/** A 3-node cluster with two started sessions: one that writes, one that listens. */
async function writerAndListener(t: Test): Promise<{ c: TestCluster; w: Listener; l: Listener }> {
  const c = await startCluster(t, { nodes: 3 });
  const w = new Listener(c, 'writer');
  const l = new Listener(c, 'listener');
  t.teardown(async () => {
    await w.client.close();
    await l.client.close();
  });
  await w.client.start();
  await l.client.start();
  return { c, w, l };
}

t.test('change feed: session 2 learns what session 1 changed; session 1 hears none of its own', async (t) => {
  const { c, w, l } = await writerAndListener(t);
  const m = w.client;
  const d = await m.meta('mkdir', { parent: 1, name: 'd', mode: 0o755, cred });
  const D = d.ino;
  const A = (await m.meta('mknod', { parent: D, name: 'a', mode: S_IFREG | 0o644, rdev: 0, cred })).ino;
  const B = (await m.meta('mknod', { parent: D, name: 'b', mode: S_IFREG | 0o644, rdev: 0, cred })).ino;
  const V = (await m.meta('mknod', { parent: D, name: 'victim', mode: S_IFREG | 0o644, rdev: 0, cred })).ino;
  const S = (await m.meta('mkdir', { parent: D, name: 'sub', mode: 0o755, cred })).ino;
  await l.expect(t, 'creates', [1, D], []); // the parents' mtime/ctime/nlink; new names are not listed
  t.notOk(l.entries().has(`${D}/a`), 'a new name is not listed');

  const step = async (what: string, op: () => Promise<unknown>, inos: number[], entries: [number, string][]) => {
    await sleep(20);
    l.reset();
    await op();
    await l.expect(t, what, inos, entries);
  };
  await step('chmod', () => m.meta('setattr', { ino: A, mode: 0o600, cred }), [A], []);
  const block = makeBlockId(Date.now(), randomBytes(8).toString('hex'));
  await step('write+commit', () => m.meta('commitWrite', { ino: A, slices: [{ chunk: 0, pos: 0, len: 100, block, off: 0 }], cred }), [A], []);
  await step('truncate', () => m.meta('setattr', { ino: A, size: 10, cred }), [A], []);
  await step('link', () => m.meta('link', { ino: A, parent: D, name: 'a2', cred }), [A, D], []);
  await step('unlink', () => m.meta('unlink', { parent: D, name: 'a2', cred }), [A, D], [[D, 'a2']]);
  await step('rename over an existing name', () => m.meta('rename', { parent: D, name: 'b', newParent: D, newName: 'victim', flags: 0, cred }),
    [B, V, D], [[D, 'b'], [D, 'victim']]);
  await step('rmdir', () => m.meta('rmdir', { parent: D, name: 'sub', cred }), [D, S], [[D, 'sub']]);
  await step('setxattr', () => m.meta('setxattr', { ino: B, name: 'user.x', value: new Uint8Array([1, 2]), flags: 0, cred }), [B], []);
  t.same(l.pushes.flatMap((p) => p.entries), [], 'setxattr names no entry');

  // Failed ops and opens that change nothing push nothing.
  await sleep(20);
  l.reset();
  await t.rejects(m.meta('unlink', { parent: D, name: 'nope', cred }), 'unlink of a missing name fails');
  await t.rejects(m.meta('rmdir', { parent: 1, name: 'd', cred }), 'rmdir of a non-empty directory fails');
  await m.meta('open', { ino: A, flags: 0, cred });
  await m.meta('getattr', { ino: A });
  await sleep(200);
  t.same(l.pushes, [], 'failed ops, an open and a read push nothing');

  t.same(w.pushes, [], 'session 1 got no push of its own changes');

  // The listener's own change goes to the writer, not back to the listener.
  l.reset();
  await l.client.meta('setattr', { ino: B, mode: 0o640, cred });
  await w.expect(t, "the listener's chmod reaches the writer", [B], []);
  await sleep(50);
  t.same(l.pushes, [], 'and not the listener itself');
});

/** A raw client-role connection to one node, recording its `changed` pushes. */
async function rawClient(c: TestCluster, id: string): Promise<{ conn: RpcConnection; pushes: ChangedPush[] }> {
  const pushes: ChangedPush[] = [];
  const conn = await RpcConnection.connect({
    url: c.node(id).url, connectTimeoutMs: 2000, logger: silentLogger,
    hello: { protocol: PROTOCOL_VERSION, cluster: TEST_CLUSTER_ID, role: 'client', client: `raw-${id}` },
    onPush: (p, d) => { if (p === 'changed') pushes.push(d as ChangedPush); },
  });
  return { conn, pushes };
}

t.test('change feed: survives a leader change (the new leader pushes, the client is told to drop everything)', async (t) => {
  const { c, w, l } = await writerAndListener(t);
  const first = await c.leader();
  const raws = await Promise.all(c.nodes.filter((n) => n.id !== first).map(async (n) => ({ id: n.id, ...(await rawClient(c, n.id)) })));
  t.teardown(() => raws.forEach((r) => r.conn.close()));
  const A = (await w.client.meta('mknod', { parent: 1, name: 'a', mode: S_IFREG | 0o644, rdev: 0, cred })).ino;
  await l.expect(t, 'create under the first leader', [1], []);
  t.same(raws.flatMap((r) => r.pushes), [], 'followers push nothing');

  l.reset();
  await c.kill(first, 'SIGKILL');
  const t0 = Date.now();
  while (l.alls === 0 && Date.now() - t0 < 2000) await sleep(5);
  t.ok(l.alls > 0, `the client emits changed {all: true} once its connection to the leader is gone (${Date.now() - t0} ms)`);

  const next = await c.leader();
  t.not(next, first, 'another node leads');
  const raw = raws.find((r) => r.id === next)!;
  const t1 = Date.now();
  while (!raw.pushes.some((p) => p.all) && Date.now() - t1 < 3000) await sleep(10);
  t.ok(raw.pushes.some((p) => p.all === true && p.inos.length === 0 && p.entries.length === 0),
    'the new leader pushes {all: true} to the clients connected when it is elected');

  // The listener talks to the new leader again (any request does), then hears the writer's changes from it.
  await l.client.meta('getattr', { ino: A });
  await sleep(20);
  l.reset();
  raw.pushes.length = 0;
  // Entries the new leader applied before the writer's first request to it may come back to the
  // writer (its connection there was not marked with its session yet); it dropped everything then anyway.
  w.pushes = [];
  await w.client.meta('setattr', { ino: A, mode: 0o600, cred });
  await l.expect(t, 'chmod under the new leader', [A], [], 1000);
  const t2 = Date.now();
  while (!raw.pushes.some((p) => p.inos.includes(A)) && Date.now() - t2 < 1000) await sleep(5);
  t.ok(raw.pushes.some((p) => p.inos.includes(A)), 'a connection that never sent a session hears it too');
  t.same(w.pushes, [], 'the writer heard none of its own changes under the new leader');
});

t.test('change feed: garbage from a client makes no push and no crash; a big batch collapses into all', async (t) => {
  const c = await startCluster(t, { nodes: 3 });
  const leader = await c.leader();
  const w = new Listener(c, 'writer');
  t.teardown(() => w.client.close());
  await w.client.start();
  const raw = await rawClient(c, leader);
  t.teardown(() => raw.conn.close());
  // Requests a client may send: odd sessions, unknown ops, sessions of others. None may reach a push.
  for (const session of ['', 'x'.repeat(64), '\u0000', w.client.sessionOrNull!]) {
    await raw.conn.call('getattr', { ino: 1 }).catch(() => {});
    await raw.conn.call('sessionRenew', { session }).catch(() => {});
    await raw.conn.call('unlink', { parent: 1, name: 'missing', cred, session, seq: 1_000_000 }).catch(() => {});
  }
  await raw.conn.call('blockHas', { ids: [] }).catch(() => {});
  await sleep(100);
  t.same(raw.pushes, [], 'nothing pushed for failed or foreign requests');
  // The raw connection now claims the writer's session: it is treated as the writer's own.
  await w.client.meta('mkdir', { parent: 1, name: 'quiet', mode: 0o755, cred });
  await sleep(100);
  t.same(raw.pushes, [], 'a connection that carried a session hears nothing of that session');
  // A fresh one hears a burst of creates; more than CHANGE_ITEMS_MAX changes in one window may collapse to all.
  const fresh = await rawClient(c, leader);
  t.teardown(() => fresh.conn.close());
  const dir = await w.client.meta('mkdir', { parent: 1, name: 'burst', mode: 0o755, cred });
  await Promise.all(Array.from({ length: 200 }, (_, i) => w.client.meta('mknod', { parent: dir.ino, name: `f${i}`, mode: S_IFREG | 0o644, rdev: 0, cred })));
  await sleep(100);
  const inos = new Set(fresh.pushes.flatMap((p) => p.inos));
  t.ok(fresh.pushes.some((p) => p.all) || inos.has(dir.ino), 'the burst was pushed (as detail or as all)');
  t.ok(fresh.pushes.length < 200, `coalesced: ${fresh.pushes.length} pushes for 201 entries`);
  t.equal((await c.status(leader)).role, 'leader', 'the leader is still up');
});
