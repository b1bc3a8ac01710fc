// Cross-client locks through real mounts (DESIGN.md invariant 5, docs/locking.md): one 3-node
// cluster, two client processes; the lock calls are fcntl/flock syscalls made by python3 processes.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type TestLike } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';
import { Agent, within } from './agent.js';

const cluster = await startCluster(t, { nodes: 3 });
const A = await mountFs(t, cluster.urls);
const B = await mountFs(t, cluster.urls);
let n = 0;
/** A fresh file, and an agent for it on each mount. */
async function pair(t: TestLike) {
  const name = `f${++n}`;
  writeFileSync(join(A.dir, name), 'x'.repeat(1000));
  return { a: await Agent.start(t, join(A.dir, name)), b: await Agent.start(t, join(B.dir, name)), name };
}

t.test('fcntl: an exclusive lock on A makes B\'s non-blocking attempt fail with EAGAIN; F_GETLK names the holder', async (t) => {
  const { a, b } = await pair(t);
  t.match(await a.send({ op: 'setlk', type: 'w', start: 0, len: 100 }), { ok: true });
  t.match(await b.send({ op: 'setlk', type: 'w', start: 50, len: 10 }), { ok: false, errno: 'EAGAIN' });
  t.match(await b.send({ op: 'setlk', type: 'r', start: 99, len: 1 }), { ok: false, errno: 'EAGAIN' }, 'overlapping read conflicts too');
  t.match(await b.send({ op: 'setlk', type: 'w', start: 100, len: 50 }), { ok: true }, 'disjoint ranges coexist');
  t.match(await b.send({ op: 'getlk', type: 'w', start: 0, len: 0 }), { ok: true, type: 'w', start: 0, len: 100, pid: a.pid });
  t.match(await a.send({ op: 'getlk', type: 'r', start: 120, len: 1 }), { ok: true, type: 'w', start: 100, len: 50, pid: b.pid });
  t.match(await a.send({ op: 'getlk', type: 'r', start: 500, len: 1 }), { ok: true, type: 'u' }, 'no conflict: F_UNLCK');
  t.match(await a.send({ op: 'setlk', type: 'u', start: 0, len: 0 }), { ok: true });
  t.match(await a.send({ op: 'setlk', type: 'r', start: 0, len: 100 }), { ok: true }, 'unlocked and relocked shared');
  t.match(await a.send({ op: 'setlk', type: 'r', start: 0, len: 0 }), { ok: false, errno: 'EAGAIN' }, 'B still holds 100-149');
});

t.test('fcntl: shared locks coexist across mounts; a writer is refused until both go', async (t) => {
  const { a, b } = await pair(t);
  const c = await Agent.start(t, join(A.dir, `f${n}`));
  t.match(await a.send({ op: 'setlk', type: 'r' }), { ok: true });
  t.match(await b.send({ op: 'setlk', type: 'r' }), { ok: true });
  t.match(await c.send({ op: 'setlk', type: 'w' }), { ok: false, errno: 'EAGAIN' });
  await a.send({ op: 'setlk', type: 'u' });
  await b.send({ op: 'close' }); // closing any fd drops the process's record locks (POSIX)
  t.match(await c.send({ op: 'setlk', type: 'w' }), { ok: true });
});

t.test('flock: exclusive on A gives EAGAIN to LOCK_NB on B; shared coexist; close releases', async (t) => {
  const { a, b } = await pair(t);
  t.match(await a.send({ op: 'flock', how: 'ex' }), { ok: true });
  t.match(await b.send({ op: 'flock', how: 'ex', nb: true }), { ok: false, errno: 'EAGAIN' });
  t.match(await b.send({ op: 'flock', how: 'sh', nb: true }), { ok: false, errno: 'EAGAIN' });
  t.match(await a.send({ op: 'flock', how: 'sh' }), { ok: true }, 'downgrade');
  t.match(await b.send({ op: 'flock', how: 'sh', nb: true }), { ok: true });
  t.match(await b.send({ op: 'setlk', type: 'w' }), { ok: true }, 'flock and fcntl locks are independent (Linux)');
  await a.send({ op: 'close' }); // last close of A's open file drops its flock
  await b.send({ op: 'flock', how: 'un' });
  t.match(await b.send({ op: 'flock', how: 'ex', nb: true }), { ok: true });
});

t.test('a blocking F_SETLKW on B is granted promptly once A unlocks (push, no polling)', async (t) => {
  const { a, b } = await pair(t);
  await a.send({ op: 'setlk', type: 'w' });
  const lats: number[] = [];
  for (let i = 0; i < 5; i++) {
    const waiting = b.send({ op: 'setlkw', type: 'w' });
    t.equal(await within(waiting, 300), 'pending', 'B waits while A holds the lock');
    const t0 = performance.now();
    await a.send({ op: 'setlk', type: 'u' });
    t.match(await waiting, { ok: true });
    lats.push(performance.now() - t0);
    // Swap back: B unlocks, A takes the lock again (blocking, granted at once).
    await b.send({ op: 'setlk', type: 'u' });
    t.match(await a.send({ op: 'setlkw', type: 'w' }), { ok: true });
  }
  lats.sort((x, y) => x - y);
  t.comment(`blocking_grant_latency_ms median ${lats[2]!.toFixed(1)} max ${lats[4]!.toFixed(1)} (unlock call on A to grant on B)`);
  t.ok(lats[2]! < 1000, 'granted within a second of the unlock');
});

t.test('flock without LOCK_NB waits and is granted when A unlocks', async (t) => {
  const { a, b } = await pair(t);
  await a.send({ op: 'flock', how: 'ex' });
  const waiting = b.send({ op: 'flock', how: 'ex' });
  t.equal(await within(waiting, 300), 'pending');
  await a.send({ op: 'flock', how: 'un' });
  t.match(await waiting, { ok: true });
});

t.test('an interrupted F_SETLKW returns EINTR and leaves no lock behind', async (t) => {
  const { a, b } = await pair(t);
  await a.send({ op: 'setlk', type: 'w' });
  t.match(await b.send({ op: 'setlkw', type: 'w', alarm: 0.5 }), { ok: false, errno: 'EINTR' });
  await a.send({ op: 'setlk', type: 'u' });
  const c = await Agent.start(t, join(A.dir, `f${n}`));
  t.match(await c.send({ op: 'setlk', type: 'w' }), { ok: true }, 'the cancelled waiter was not granted');
  t.match(await b.send({ op: 'flock', how: 'ex' }), { ok: true });
  t.match(await c.send({ op: 'flock', how: 'ex', alarm: 0.5 }), { ok: false, errno: 'EINTR' }, 'same for flock');
  await b.send({ op: 'flock', how: 'un' });
  t.match(await a.send({ op: 'flock', how: 'ex', nb: true }), { ok: true });
});

t.test('SIGKILL of the process holding a lock on A releases it (exit closes its files)', async (t) => {
  const { a, b } = await pair(t);
  await a.send({ op: 'setlk', type: 'w', start: 0, len: 10 });
  await a.send({ op: 'flock', how: 'ex', fd: 1 });
  const waiting = b.send({ op: 'setlkw', type: 'w', start: 5, len: 1 });
  t.equal(await within(waiting, 300), 'pending');
  const t0 = performance.now();
  await a.kill();
  t.match(await waiting, { ok: true });
  t.match(await b.send({ op: 'flock', how: 'ex', nb: true }), { ok: true }, 'its flock went too');
  t.comment(`lock_release_after_process_kill_ms ${(performance.now() - t0).toFixed(0)}`);
});

t.test('a close costs no lock call while the mount holds no POSIX lock; while one is held, closes reach the handler and release it', async (t) => {
  const C = await mountFs(t, cluster.urls, { args: ['--debug'] }); // --debug: the access log names every op
  const count = (op: string, name: string) => (readFileSync(C.logFile, 'utf8').match(new RegExp(` ${op} /${name} `, 'g')) ?? []).length;
  /** Opens and closes `name` on C; returns once the close's release is logged (its lock call, if any, came before). */
  const openClose = async (agent: Agent, name: string) => {
    const released = count('release', name);
    await agent.send({ op: 'open' });
    await agent.send({ op: 'close' });
    const deadline = Date.now() + 5000;
    while (count('release', name) === released && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.ok(count('release', name) > released, `the release of ${name} was logged`);
  };
  writeFileSync(join(C.dir, 'quiet'), 'x');
  const quiet = await Agent.start(t, join(C.dir, 'quiet'));
  await openClose(quiet, 'quiet');
  t.equal(count('lock', 'quiet'), 0, 'no lock held: the flush\'s unlock was answered by the binding');
  const holder = await Agent.start(t, join(C.dir, 'held'));
  t.match(await holder.send({ op: 'setlk', type: 'w' }), { ok: true });
  await openClose(quiet, 'quiet');
  t.equal(count('lock', 'quiet'), 1, 'a lock held on the mount: the flush\'s unlock reaches the handler');
  const other = await Agent.start(t, join(B.dir, 'held'));
  t.match(await other.send({ op: 'setlk', type: 'w' }), { ok: false, errno: 'EAGAIN' });
  await holder.send({ op: 'close' }); // closing drops the process's record locks
  t.match(await other.send({ op: 'setlk', type: 'w' }), { ok: true }, 'the close released the lock on the cluster');
  await openClose(quiet, 'quiet');
  t.equal(count('lock', 'quiet'), 1, 'the lock gone: closes are answered by the binding again');
});
