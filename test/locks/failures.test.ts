// Locks across failures, through real mounts: a client mount process SIGKILLed (its lease lapses and
// the nodes hand its locks on), and the Raft leader SIGKILLed while locks are held and waiters queue.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';
import { Agent, within } from './agent.js';

const LEASE_MS = 6000;
// Expiry runs every 500 ms so the measured hand-over is lease + about half a second.
const cluster = await startCluster(t, { nodes: 3, nodeArgs: ['--expire-every-ms', '500'] });
const args = ['--lease-ms', String(LEASE_MS)];

t.test(`SIGKILL of client A's mount process: B gets A's locks within lease + 5 s (lease ${LEASE_MS} ms)`, async (t) => {
  const A = await mountFs(t, cluster.urls, { args });
  const B = await mountFs(t, cluster.urls, { args });
  writeFileSync(join(A.dir, 'crash'), 'data');
  const a = await Agent.start(t, join(A.dir, 'crash'));
  const b = await Agent.start(t, join(B.dir, 'crash'));
  t.match(await a.send({ op: 'setlk', type: 'w' }), { ok: true });
  t.match(await a.send({ op: 'flock', how: 'ex', fd: 1 }), { ok: true });
  const waiting = b.send({ op: 'setlkw', type: 'w' });
  t.equal(await within(waiting, 500), 'pending');
  const t0 = performance.now();
  process.kill(A.pid, 'SIGKILL');
  t.match(await waiting, { ok: true });
  const s = (performance.now() - t0) / 1000;
  t.comment(`lock_release_after_client_kill_s ${s.toFixed(2)} (lease ${LEASE_MS / 1000} s)`);
  t.ok(s < LEASE_MS / 1000 + 5, 'within lease + 5 s');
  t.match(await b.send({ op: 'flock', how: 'ex', nb: true }), { ok: true }, 'the flock went with the session');
  await a.kill(); // its fds point into a dead mount
});

t.test('SIGKILL of the leader while locks are held and waiters queue: none lost, none granted twice', async (t) => {
  const A = await mountFs(t, cluster.urls);
  const B = await mountFs(t, cluster.urls);
  writeFileSync(join(A.dir, 'lead'), 'data');
  const a = await Agent.start(t, join(A.dir, 'lead'));
  const b1 = await Agent.start(t, join(B.dir, 'lead'));
  const b2 = await Agent.start(t, join(B.dir, 'lead'));
  const a2 = await Agent.start(t, join(A.dir, 'lead'));
  t.match(await a.send({ op: 'setlk', type: 'w', start: 0, len: 100 }), { ok: true });
  t.match(await b1.send({ op: 'setlk', type: 'r', start: 200, len: 10 }), { ok: true });
  const w1 = b2.send({ op: 'setlkw', type: 'w', start: 50, len: 10 });
  t.equal(await within(w1, 300), 'pending');
  const w2 = a2.send({ op: 'setlkw', type: 'w', start: 0, len: 300 }); // behind w1, and conflicts with all
  t.equal(await within(w2, 300), 'pending');
  const leader = await cluster.leader();
  const t0 = performance.now();
  await cluster.kill(leader, 'SIGKILL');
  const next = await cluster.leader();
  t.comment(`new leader ${next} after ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  t.not(next, leader);
  // Held locks survived: conflicting attempts still fail; compatible ones pass.
  t.match(await b1.send({ op: 'setlk', type: 'w', start: 0, len: 1 }), { ok: false, errno: 'EAGAIN' }, 'A\'s lock kept');
  t.match(await a.send({ op: 'setlk', type: 'w', start: 205, len: 1 }), { ok: false, errno: 'EAGAIN' }, 'B\'s read lock kept');
  t.equal(await within(w1, 200), 'pending', 'waiter 1 not granted by the failover');
  // A unlocks: only w1 may be granted (w2 still conflicts with B's read lock and with w1).
  await a.send({ op: 'setlk', type: 'u' });
  t.match(await within(w1, 5000), { ok: true }, 'waiter 1 granted after the leader change (it re-registered)');
  t.equal(await within(w2, 500), 'pending', 'waiter 2 still waits: never granted twice');
  await b2.send({ op: 'setlk', type: 'u' });
  t.equal(await within(w2, 500), 'pending', 'waiter 2 still blocked by the read lock');
  await b1.send({ op: 'setlk', type: 'u' });
  t.match(await within(w2, 5000), { ok: true }, 'waiter 2 granted last');
  t.match(await b1.send({ op: 'setlk', type: 'r', start: 250, len: 1 }), { ok: false, errno: 'EAGAIN' }, 'and holds it');
});
