import t from 'tap';
import { silentLogger } from '../../../shared/log.js';
import type { OpResults } from '../../../shared/protocol/ops.js';
import { RpcError } from '../../../shared/rpc/rpc-error.js';
import { placeReplicas } from '../../../shared/placement.js';
import type { NodeInfo } from '../../../shared/types.js';
import { ClusterClient } from '../../../client/rpc/cluster-client.js';
import type { Connector, RpcConn } from '../../../client/rpc/conn-pool.js';
import { toErrno } from '../../../client/rpc/errno.js';

const MEMBERS: NodeInfo[] = [1, 2, 3].map((i) => ({ id: `n${i}`, url: `ws://n${i}` }));
type Handler = (op: string, args: Record<string, unknown>) => unknown;

/** Fake nodes: each URL answers with its handler (return a value, or throw an RpcError). */
function fakeCluster(handlers: Record<string, Handler>, log: { url: string; op: string; args: Record<string, unknown> }[] = []): Connector {
  return async (url) => {
    const h = handlers[url];
    if (!h) throw new RpcError('UNAVAILABLE', `cannot reach ${url}`);
    const conn: RpcConn = {
      url, isOpen: true,
      helloReply: { protocol: 1, cluster: 'c', node: url, leader: null, members: MEMBERS, replicas: 3 } as OpResults['hello'],
      call: async (op, args) => {
        log.push({ url, op, args: { ...(args as Record<string, unknown>) } }); // as sent: the client reuses the object across attempts
        await new Promise((r) => setImmediate(r));
        return h(op, args as Record<string, unknown>) as never;
      },
      onClose: () => {},
      close: () => {},
    };
    return conn;
  };
}
const fastClock = { nowMs: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 5))) };
const leaderAt = (leader: string, impl: Handler): Record<string, Handler> => Object.fromEntries(MEMBERS.map((m) => [m.url, (op: string, a: Record<string, unknown>) => {
  if (op.startsWith('block')) return impl(op, a);
  if (m.url !== leader) throw new RpcError('NOT_LEADER', 'not me', leader);
  return impl(op, a);
}]));
const session: Handler = (op) => (op === 'sessionOpen' ? { session: 's1', leaseMs: 20_000 } : {});

t.test('rpc: follows NOT_LEADER to the leader and stamps session and seq on changes', async (t) => {
  const calls: { url: string; op: string; args: Record<string, unknown> }[] = [];
  const c = new ClusterClient({ urls: ['ws://n1'], clientName: 't', logger: silentLogger, clock: fastClock,
    connector: fakeCluster(leaderAt('ws://n3', (op, a) => (op === 'mkdir' ? { ino: 5 } : session(op, a))), calls) });
  await c.start();
  const r = await c.meta('mkdir', { parent: 1, name: 'x', mode: 0o755, cred: { uid: 0, gid: 0, groups: [] } });
  t.same(r, { ino: 5 });
  const mk = calls.filter((x) => x.op === 'mkdir');
  t.equal(mk[mk.length - 1].url, 'ws://n3');
  t.equal(mk[mk.length - 1].args.session, 's1');
  t.equal(typeof mk[mk.length - 1].args.seq, 'number');
  await c.close();
});

t.test('rpc: retries UNAVAILABLE with the same seq, so the dedup answers a repeat', async (t) => {
  let fails = 2;
  const calls: { url: string; op: string; args: Record<string, unknown> }[] = [];
  const c = new ClusterClient({ urls: ['ws://n1'], clientName: 't', logger: silentLogger, clock: fastClock,
    connector: fakeCluster(leaderAt('ws://n1', (op, a) => {
      if (op === 'unlink' && fails-- > 0) throw new RpcError('UNAVAILABLE', 'election');
      return op === 'unlink' ? { ino: 2, nlink: 0 } : session(op, a);
    }), calls) });
  await c.start();
  await c.meta('unlink', { parent: 1, name: 'x', cred: { uid: 0, gid: 0, groups: [] } });
  const seqs = calls.filter((x) => x.op === 'unlink' && x.url === 'ws://n1').map((x) => x.args.seq);
  t.equal(seqs.length, 3);
  t.equal(new Set(calls.filter((x) => x.op === 'unlink').map((x) => x.args.seq)).size, 1, 'one seq for all attempts');
  await c.close();
});

t.test('rpc: an errno is not retried; a dead cluster becomes EIO after the retry budget', async (t) => {
  const c = new ClusterClient({ urls: ['ws://n1'], clientName: 't', logger: silentLogger, clock: fastClock, retryMsMax: 200,
    connector: fakeCluster(leaderAt('ws://n1', (op, a) => {
      if (op === 'lookup') throw new RpcError('ENOENT');
      if (op === 'getattr') throw new RpcError('UNAVAILABLE', 'no quorum');
      return session(op, a);
    })) });
  await c.start();
  await t.rejects(c.meta('lookup', { parent: 1, name: 'x' }), { code: 'ENOENT' });
  const e = await c.meta('getattr', { ino: 1 }).catch((x: unknown) => x);
  t.equal(toErrno(e), 'EIO');
  await c.close();
});

t.test('rpc: putBlock resolves at a write quorum and substitutes a failed replica', async (t) => {
  const id = '0000000000a-0123456789abcdef';
  const [first, second] = placeReplicas(id, MEMBERS, 3);
  const stored = new Set<string>();
  const handlers = Object.fromEntries(MEMBERS.map((m) => [m.url, (op: string, a: Record<string, unknown>) => {
    if (op === 'blockPut') {
      if (m.url === first.url) throw new RpcError('UNAVAILABLE', 'disk gone');
      stored.add(m.url);
      return {};
    }
    if (op === 'blockGet') {
      if (m.url === second.url) throw new RpcError('BAD_CHECKSUM', 'rot');
      return { data: Buffer.alloc(a.len as number, 7) };
    }
    return session(op, a);
  }]));
  const c = new ClusterClient({ urls: ['ws://n1'], clientName: 't', logger: silentLogger, clock: fastClock, connector: fakeCluster(handlers) });
  await c.start();
  await c.putBlock(id, Buffer.from('x'));
  t.ok(stored.size >= 2, 'a quorum of 2 of 3 holds the block');
  t.notOk(stored.has(first.url));
  const got = await c.getBlock(id, 0, 4);
  t.same(Buffer.from(got), Buffer.alloc(4, 7), 'read falls back past the failing and the corrupt replica');
  await c.close();
});

// A block no quorum could store fails the write: EIO when the replicas are down, ENOSPC when they are full.
for (const [code, errno] of [['UNAVAILABLE', 'EIO'], ['ENOSPC', 'ENOSPC']] as const) {
  t.test(`rpc: putBlock fails (${errno}) when no quorum can be reached in time (replicas answer ${code})`, async (t) => {
    const handlers = Object.fromEntries(MEMBERS.map((m, i) => [m.url, (op: string, a: Record<string, unknown>) => {
      if (op === 'blockPut' && i > 0) throw new RpcError(code, 'refused');
      return op === 'blockPut' ? {} : session(op, a);
    }]));
    const c = new ClusterClient({ urls: ['ws://n1'], clientName: 't', logger: silentLogger, clock: fastClock, retryMsMax: 100, connector: fakeCluster(handlers) });
    await c.start();
    const e = await c.putBlock('0000000000a-0123456789abcdef', Buffer.from('x')).catch((x: unknown) => x);
    t.equal(toErrno(e), errno);
    await c.close();
  });
}

/** A started client whose leader answers mknod with inode 9 and records every call. */
async function mknodLeader() {
  const calls: { url: string; op: string; args: Record<string, unknown> }[] = [];
  const c = new ClusterClient({ urls: ['ws://n1'], clientName: 't', logger: silentLogger, clock: fastClock,
    connector: fakeCluster(leaderAt('ws://n1', (op, a) => (op === 'mknod' ? { ino: 9 } : session(op, a))), calls) });
  await c.start();
  return { c, calls, cred: { uid: 0, gid: 0, groups: [] } };
}

t.test('rpc: closes are queued and ride along with the next namespace change, or go alone together', async (t) => {
  const { c, calls, cred } = await mknodLeader();
  const r1 = c.meta('release', { ino: 4 });
  const r2 = c.meta('release', { ino: 5 });
  await c.meta('mknod', { parent: 1, name: 'x', mode: 0o100644, rdev: 0, cred, open: true });
  await Promise.all([r1, r2]);
  const mk = calls.filter((x) => x.op === 'mknod');
  t.same(mk[0].args.releases, [4, 5], 'carried by the mknod');
  t.equal(calls.filter((x) => x.op === 'release').length, 0, 'no release of their own');
  await Promise.all([c.meta('release', { ino: 6 }), c.meta('release', { ino: 7 }), c.meta('release', { ino: 6 })]);
  const rel = calls.filter((x) => x.op === 'release');
  t.equal(rel.length, 1, 'queued closes with nothing to ride on go as one release');
  t.match(rel[0].args, { ino: 6, releases: [7, 6], session: 's1' });
  t.equal(typeof rel[0].args.seq, 'number', 'stamped, so a retry is answered by the dedup table');
  await c.meta('lookup', { parent: 1, name: 'x' }).catch(() => {});
  t.equal(calls.filter((x) => x.op === 'lookup')[0].args.releases, undefined, 'reads carry nothing');
  await c.close();
});

t.test('rpc: closes carried by a request that failed with an errno are queued again', async (t) => {
  const calls: { url: string; op: string; args: Record<string, unknown> }[] = [];
  const c = new ClusterClient({ urls: ['ws://n1'], clientName: 't', logger: silentLogger, clock: fastClock,
    connector: fakeCluster(leaderAt('ws://n1', (op, a) => {
      if (op === 'unlink') throw new RpcError('ENOENT');
      return session(op, a);
    }), calls) });
  await c.start();
  const r = c.meta('release', { ino: 4 });
  await t.rejects(c.meta('unlink', { parent: 1, name: 'x', cred: { uid: 0, gid: 0, groups: [] } }), { code: 'ENOENT' });
  t.same(calls.filter((x) => x.op === 'unlink')[0].args.releases, [4]);
  await r;
  t.match(calls.filter((x) => x.op === 'release'), [{ args: { ino: 4 } }], 'sent again, alone');
  await c.close();
});

t.test('rpc: a request retried under a new session drops the old session\'s closes', async (t) => {
  const calls: { url: string; op: string; args: Record<string, unknown> }[] = [];
  let sessions = 0;
  const c = new ClusterClient({ urls: ['ws://n1'], clientName: 't', logger: silentLogger, clock: fastClock,
    connector: fakeCluster(leaderAt('ws://n1', (op, a) => {
      if (op === 'sessionOpen') return { session: `s${++sessions}`, leaseMs: 20_000 };
      if (op === 'setattr' && a.session === 's1') throw new RpcError('ESTALE');
      return op === 'setattr' ? { ino: 2 } : {};
    }), calls) });
  await c.start();
  const r = c.meta('release', { ino: 4 });
  await c.meta('setattr', { ino: 2, mode: 0o644, cred: { uid: 0, gid: 0, groups: [] } });
  await r;
  const sa = calls.filter((x) => x.op === 'setattr');
  t.same(sa[0].args.releases, [4]);
  t.equal(sa[0].args.session, 's1');
  const last = sa[sa.length - 1];
  t.equal(last.args.session, 's2');
  t.equal(last.args.releases, undefined, 'the open ended with s1');
  t.equal(calls.filter((x) => x.op === 'release').length, 0);
  await c.close();
});

t.test('rpc: read-only opens registered later ride along with requests; a close before that sends nothing', async (t) => {
  const { c, calls, cred } = await mknodLeader();
  c.openLater(4);
  c.openLater(5);
  await c.meta('release', { ino: 4 }); // its open never left: neither goes
  await c.meta('mknod', { parent: 1, name: 'x', mode: 0o100644, rdev: 0, cred, open: true });
  t.match(calls.filter((x) => x.op === 'mknod')[0].args, { opens: [5], session: 's1' }, 'the open still held rides on the mknod');
  t.equal(calls.filter((x) => x.op === 'mknod')[0].args.releases, undefined, 'the cancelled close is not sent');
  c.openLater(6);
  await new Promise((r) => setTimeout(r, 1100)); // past the second a queued open waits for a request or its close
  const rel = calls.filter((x) => x.op === 'release');
  t.equal(rel.length, 1, 'with nothing to ride on, the open goes in a release of its own');
  t.match(rel[0].args, { opens: [6], session: 's1' });
  t.equal(rel[0].args.ino, undefined, 'which closes nothing');
  await Promise.all([c.meta('release', { ino: 6 }), c.meta('release', { ino: 5 })]);
  t.match(calls.filter((x) => x.op === 'release')[1]!.args, { ino: 6, releases: [5] }, 'registered opens are closed as before');
  await c.close();
});
