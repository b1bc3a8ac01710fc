import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../shared/log.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { O_CREAT, O_RDWR } from '../../../client/vfs/perms.js';
import type { OpContext } from '../../../client/vfs/types.js';
import { FakeCluster } from './fake-cluster.js';

/**
 * The kernel asks for security.capability before every write to a FUSE file, holding the inode lock:
 * a steady writer must be answered from memory, the answer renewed in the background before its TTL
 * ends, and never older than the TTL.
 */
const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
const CAP = 'security.capability';
const TTL = 1000;

async function setup() {
  const cluster = await FakeCluster.create();
  const clock = { now: Date.now() };
  const o = { cluster, clock: { nowMs: () => clock.now }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: TTL };
  return { cluster, clock, vfs: new Vfs(o), other: new Vfs({ ...o, clock: { nowMs: () => clock.now } }) };
}
const rpcs = (c: FakeCluster) => (c.calls.get('getxattr') ?? 0) + (c.calls.get('lookup') ?? 0);
const settle = () => new Promise((r) => setTimeout(r, 20));

t.test('security.capability: a steady writer is answered from memory, renewed in the background', async (t) => {
  const { cluster, clock, vfs } = await setup();
  const fd = await vfs.create(ROOT, '/f', 0o644, O_CREAT | O_RDWR);
  t.ok(fd.ok);
  const before = rpcs(cluster);
  t.same(await vfs.xattrs.get(ROOT, '/f', CAP), { ok: false, errno: 'ENODATA' }, 'a new file has none');
  t.equal(rpcs(cluster), before, 'no round trip for a file this mount created');
  // Every 300 ms for 5 TTLs: each ask is answered while the cluster answers nothing (held back until
  // after the answer); renewals keep the answer young.
  const real = cluster.meta.bind(cluster);
  let gate: Promise<void> = Promise.resolve();
  cluster.meta = (async (op: string, args: never) => {
    await gate;
    return real(op as never, args);
  }) as typeof cluster.meta;
  for (let i = 0; i < 17; i++) {
    clock.now += 300;
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const answer = await Promise.race([vfs.xattrs.get(ROOT, '/f', CAP), new Promise((r) => setTimeout(() => r('waited'), 50))]);
    t.same(answer, { ok: false, errno: 'ENODATA' }, `ask ${i}: answered without waiting for the cluster`);
    open();
    await settle(); // the background renewal lands
  }
  t.ok(rpcs(cluster) > before, 'renewals asked the cluster');
  t.ok(rpcs(cluster) - before <= 2 * 10, 'at most one renewal (lookup + getxattr) per half TTL');
});

t.test('security.capability: a capability set by another mount shows within the TTL; set here, at once', async (t) => {
  const { clock, vfs, other } = await setup();
  t.ok((await vfs.create(ROOT, '/g', 0o755, O_CREAT | O_RDWR)).ok);
  t.same(await vfs.xattrs.get(ROOT, '/g', CAP), { ok: false, errno: 'ENODATA' });
  const value = Buffer.from([1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  t.ok((await other.xattrs.set(ROOT, '/g', CAP, value, 0)).ok, 'another mount sets one');
  clock.now += TTL + 1; // the answer from before the set has expired, with no ask in between to renew it
  const got = await vfs.xattrs.get(ROOT, '/g', CAP);
  t.ok(got.ok && Buffer.isBuffer(got.value) && got.value.equals(value), 'seen once the TTL passed');
  t.ok((await vfs.xattrs.remove(ROOT, '/g', CAP)).ok);
  t.same(await vfs.xattrs.get(ROOT, '/g', CAP), { ok: false, errno: 'ENODATA' }, 'removed here: gone at once');
  t.ok((await vfs.xattrs.set(ROOT, '/g', CAP, value, 0)).ok);
  const again = await vfs.xattrs.get(ROOT, '/g', CAP);
  t.ok(again.ok && Buffer.isBuffer(again.value) && again.value.equals(value), 'set here: seen at once');
});

t.test('security.capability: a renewal that finds one set elsewhere stops the answers from memory', async (t) => {
  const { clock, vfs, other } = await setup();
  t.ok((await vfs.create(ROOT, '/h', 0o755, O_CREAT | O_RDWR)).ok);
  const value = Buffer.from([1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  t.ok((await other.xattrs.set(ROOT, '/h', CAP, value, 0)).ok);
  clock.now += TTL * 0.6; // past half the TTL: this answer comes from memory and starts a renewal
  t.same(await vfs.xattrs.get(ROOT, '/h', CAP), { ok: false, errno: 'ENODATA' }, 'still within the TTL');
  await settle();
  const got = await vfs.xattrs.get(ROOT, '/h', CAP);
  t.ok(got.ok && Buffer.isBuffer(got.value) && got.value.equals(value), 'the renewal saw it');
});
