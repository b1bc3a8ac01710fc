// The client's path cache (client/vfs/paths.ts): it must hold a directory of 100,000 names, evict
// its oldest names when full (not everything), keep hard links' several paths per inode right, and
// keep names as long as the VFS is told (longer than the kernel).
import t from 'tap';
import { ENTRIES_MAX, PathCache } from '../../../client/vfs/paths.js';
import type { Attr } from '../../../shared/types.js';
import type { ClusterApi } from '../../../client/vfs/types.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { silentLogger } from '../../../shared/log.js';
import { FakeCluster } from './fake-cluster.js';

const attr = (ino: number, nlink = 1): Attr => ({
  ino, type: 'file', mode: 0o100644, uid: 0, gid: 0, nlink, size: 0, rdev: 0,
  atime: [1, 0], mtime: [1, 0], ctime: [1, 0], version: 1,
});
const cache = () => new PathCache({} as ClusterApi, { nowMs: () => 1000 }, 60_000);

t.test('100,000 names of one directory all stay cached', async (t) => {
  const pc = cache();
  for (let i = 0; i < 100_000; i++) pc.remember(`/many/f${i}`, attr(10 + i));
  let missing = 0;
  for (let i = 0; i < 100_000; i++) if (pc.cachedIno(`/many/f${i}`) !== 10 + i) missing++;
  t.equal(missing, 0);
});

t.test('when full, the oldest names go, not all of them', async (t) => {
  const pc = cache();
  for (let i = 0; i < ENTRIES_MAX + 1; i++) pc.remember(`/d/f${i}`, attr(10 + i));
  t.equal(pc.cachedIno('/d/f0'), undefined, 'the oldest is gone');
  t.equal(pc.cachedIno(`/d/f${ENTRIES_MAX}`), 10 + ENTRIES_MAX, 'the newest is there');
  t.equal(pc.cachedIno(`/d/f${ENTRIES_MAX - 1000}`), 10 + ENTRIES_MAX - 1000, 'recent ones stay');
  // A name remembered again moves to the young end.
  const pc2 = cache();
  pc2.remember('/d/keep', attr(5));
  for (let i = 0; i < ENTRIES_MAX - 1; i++) pc2.remember(`/d/g${i}`, attr(10 + i));
  pc2.remember('/d/keep', attr(5));
  pc2.remember('/d/one-more', attr(4));
  t.equal(pc2.cachedIno('/d/keep'), 5, 'refreshed before the eviction');
  t.equal(pc2.cachedIno('/d/g0'), undefined);
});

t.test('an inode with several names: updates reach each, forgetting the inode drops each', async (t) => {
  const pc = cache();
  pc.remember('/a', attr(7, 2));
  pc.remember('/b', attr(7, 2));
  const newer = { ...attr(7, 3), version: 2 };
  pc.updated(newer);
  t.equal((await pc.attr('/a')).nlink, 3);
  t.equal((await pc.attr('/b')).nlink, 3);
  pc.forget('/a');
  pc.updated({ ...attr(7, 1), version: 3 });
  t.equal((await pc.attr('/b')).nlink, 1, 'the remaining name still follows the inode');
  pc.remember('/c', attr(7, 2));
  pc.forgetIno(7);
  t.equal(pc.cachedIno('/b'), undefined);
  t.equal(pc.cachedIno('/c'), undefined);
  // The same path remembered for another inode leaves the old inode's index.
  pc.remember('/x', attr(8));
  pc.remember('/x', attr(9));
  pc.forgetIno(8);
  t.equal(pc.cachedIno('/x'), 9);
});

t.test('the VFS keeps names for namesTtlMs, past the kernel\'s pathTtlMs (NAMES_CACHE_SEC)', async (t) => {
  const cluster = await FakeCluster.create();
  let now = 1_000_000;
  const vfs = new Vfs({ cluster, clock: { nowMs: () => now }, randomHex: () => 'ab'.repeat(8), log: silentLogger, pathTtlMs: 60_000, namesTtlMs: 600_000 });
  const ctx = { uid: 0, gid: 0, groups: [], pid: 1 };
  t.ok((await vfs.mkdir(ctx, '/d', 0o755)).ok);
  const lookups = () => cluster.calls.get('lookup') ?? 0;
  const before = lookups();
  now += 120_000; // past the kernel's minute
  t.ok((await vfs.getattr(ctx, '/d')).ok);
  t.equal(lookups(), before, 'answered from the path cache');
  now += 600_000; // past the names' lifetime
  t.ok((await vfs.getattr(ctx, '/d')).ok);
  t.equal(lookups(), before + 1, 'then asked again');
});

t.test("root's chmod takes the inode from the path cache; anyone else's looks the file up as it is now", async (t) => {
  const cluster = await FakeCluster.create();
  const vfs = new Vfs({ cluster, clock: { nowMs: () => 1_000_000 }, randomHex: () => 'ab'.repeat(8), log: silentLogger, pathTtlMs: 60_000, namesTtlMs: 600_000 });
  const root = { uid: 0, gid: 0, groups: [], pid: 1 };
  const fd = await vfs.create(root, '/f', 0o644);
  t.ok(fd.ok && (await vfs.release(root, fd.value)).ok);
  t.ok((await vfs.chown(root, '/f', 1000, 1000)).ok);
  const lookups = () => cluster.calls.get('lookup') ?? 0;
  const before = lookups();
  t.ok((await vfs.chmod(root, '/f', 0o600)).ok);
  t.equal(lookups(), before, 'root: no lookup');
  t.ok((await vfs.chmod({ uid: 1000, gid: 1000, groups: [], pid: 2 }, '/f', 0o640)).ok);
  t.equal(lookups(), before + 1, 'the owner: one lookup');
  const a = await vfs.getattr(root, '/f');
  t.equal(a.ok && a.value.mode & 0o7777, 0o640);
});
