// Directories this mount made are complete in its path cache (client/vfs/paths.ts): a name not cached
// in one does not exist, so its lookup costs no request. Each test checks both sides: absent names
// are answered here, and every way a name can appear that this mount did not cache ends that.
import t from 'tap';
import { Vfs } from '../../../client/vfs/vfs.js';
import { silentLogger } from '../../../shared/log.js';
import type { Attr } from '../../../shared/types.js';
import { RpcError } from '../../../shared/rpc/rpc-error.js';
import { FakeCluster } from './fake-cluster.js';

const ctx = { uid: 0, gid: 0, groups: [], pid: 1 };
const cred = { uid: 0, gid: 0, groups: [] };

async function setup(namesTtlMs = 600_000) {
  const cluster = await FakeCluster.create();
  const clock = { now: 1_000_000 };
  const vfs = new Vfs({ cluster, clock: { nowMs: () => clock.now }, randomHex: () => 'ab'.repeat(8), log: silentLogger, pathTtlMs: 60_000, namesTtlMs });
  const lookups = () => cluster.calls.get('lookup') ?? 0;
  /** getattr's errno (or 'ok') and whether it asked the cluster. */
  const probe = async (path: string) => {
    const before = lookups();
    const r = await vfs.getattr(ctx, path);
    return { errno: r.ok ? 'ok' : r.errno, asked: lookups() > before };
  };
  const mkdir = async (path: string) => {
    const r = await vfs.mkdir(ctx, path, 0o755);
    if (!r.ok) throw new Error(`mkdir ${path}: ${r.errno}`);
    return r.value as Attr;
  };
  const create = async (path: string) => {
    const r = await vfs.create(ctx, path, 0o644);
    if (!r.ok) throw new Error(`create ${path}: ${r.errno}`);
    t.ok((await vfs.release(ctx, r.value)).ok);
  };
  /** As another mount would: straight to the cluster, nothing in this VFS hears of it. */
  const elsewhere = (parent: Attr, name: string) => cluster.meta('mknod', { parent: parent.ino, name, mode: 0o100644, rdev: 0, cred });
  return { cluster, clock, vfs, probe, mkdir, create, elsewhere };
}

t.test('absent names in a directory this mount made are answered without a request', async (t) => {
  const { probe, mkdir, create } = await setup();
  await mkdir('/d');
  t.same(await probe('/d/nothing'), { errno: 'ENOENT', asked: false });
  await create('/d/f');
  t.same(await probe('/d/f'), { errno: 'ok', asked: false }, 'its own new name is cached');
  t.same(await probe('/d/g'), { errno: 'ENOENT', asked: false }, 'still complete after a create');
  await mkdir('/d/sub');
  t.same(await probe('/d/sub/x'), { errno: 'ENOENT', asked: false }, 'a new subdirectory is complete too');
  t.same(await probe('/other'), { errno: 'ENOENT', asked: true }, 'the root was not made here: asked');
});

t.test("another mount's pushed change ends completeness (names, inode, or everything)", async (t) => {
  for (const how of ['entries', 'inos', 'all'] as const) {
    const { vfs, probe, mkdir, elsewhere } = await setup();
    const d = await mkdir('/d');
    await elsewhere(d, 'x');
    t.same(await probe('/d/x'), { errno: 'ENOENT', asked: false }, `${how}: before the push, the window close-to-open leaves`);
    await vfs.remoteChanged(how === 'entries' ? { entries: [[d.ino, 'x']] } : how === 'inos' ? { inos: [d.ino] } : { all: true });
    t.same(await probe('/d/x'), { errno: 'ok', asked: true }, `${how}: after it, the name is found`);
    t.same(await probe('/d/y'), { errno: 'ENOENT', asked: true }, `${how}: and absent names are asked for again`);
  }
});

t.test('a push that arrives while the mkdir is in flight: the new directory is not trusted', async (t) => {
  const { cluster, vfs, probe } = await setup();
  const meta = cluster.meta.bind(cluster);
  cluster.meta = (async (op: string, args: never) => {
    const r = await meta(op as never, args);
    if (op === 'mkdir') await vfs.remoteChanged({ inos: [12345] }); // about something else entirely
    return r;
  }) as typeof cluster.meta;
  t.ok((await vfs.mkdir(ctx, '/d', 0o755)).ok);
  t.same(await probe('/d/x'), { errno: 'ENOENT', asked: true });
});

t.test('a create whose answer was lost (applied, then an error): the name is asked for, and found', async (t) => {
  const { cluster, vfs, probe, mkdir } = await setup();
  await mkdir('/d');
  const meta = cluster.meta.bind(cluster);
  cluster.meta = (async (op: string, args: never) => {
    const r = await meta(op as never, args);
    if (op === 'mknod') throw new RpcError('EIO');
    return r;
  }) as typeof cluster.meta;
  const r = await vfs.create(ctx, '/d/lost', 0o644);
  t.equal(r.ok ? 'ok' : r.errno, 'EIO');
  cluster.meta = meta;
  t.same(await probe('/d/lost'), { errno: 'ok', asked: true });
});

t.test('a rename into a complete directory: the new name is found', async (t) => {
  const { vfs, probe, mkdir, create } = await setup();
  await mkdir('/a');
  await mkdir('/b');
  await create('/a/f');
  t.ok((await vfs.rename(ctx, '/a/f', '/b/g')).ok);
  t.same((await probe('/b/g')).errno, 'ok');
  t.same(await probe('/a/f'), { errno: 'ENOENT', asked: false }, 'the source directory stays complete: the name is gone');
  // A directory moved: its names are cached under its old path only.
  await mkdir('/a/sub');
  await create('/a/sub/x');
  t.ok((await vfs.rename(ctx, '/a/sub', '/b/sub')).ok);
  t.same((await probe('/b/sub/x')).errno, 'ok');
});

t.test('a name whose attributes were dropped (its directory changed under it) is still found', async (t) => {
  const { vfs, probe, mkdir, create } = await setup();
  await mkdir('/top');
  await mkdir('/top/d');
  await mkdir('/top/d/sub');
  await create('/top/d/sub/f');
  // The rename drops /top/d's attributes (its mtime moved) but not its name in complete /top.
  t.ok((await vfs.rename(ctx, '/top/d/sub/f', '/top/d/g')).ok);
  t.same((await probe('/top/d')).errno, 'ok');
  t.same((await probe('/top/d/g')).errno, 'ok');
});

t.test('unlink and rmdir keep completeness; a failed one does not lose the name', async (t) => {
  const { vfs, probe, mkdir, create } = await setup();
  await mkdir('/d');
  await create('/d/f');
  t.ok((await vfs.unlink(ctx, '/d/f')).ok);
  t.same(await probe('/d/f'), { errno: 'ENOENT', asked: false });
  await mkdir('/d/full');
  await create('/d/full/x');
  const r = await vfs.rmdir(ctx, '/d/full');
  t.equal(r.ok ? 'ok' : r.errno, 'ENOTEMPTY');
  t.same((await probe('/d/full')).errno, 'ok', 'still there, whether cached or asked for');
  t.same((await probe('/d/full/x')).errno, 'ok');
  t.ok((await vfs.unlink(ctx, '/d/full/x')).ok);
  t.ok((await vfs.rmdir(ctx, '/d/full')).ok);
  t.same((await probe('/d/full')).errno, 'ENOENT');
});

t.test('completeness lasts no longer than the names do; strict mode has none', async (t) => {
  const { clock, probe, mkdir } = await setup();
  await mkdir('/d');
  clock.now += 600_001;
  t.same(await probe('/d/x'), { errno: 'ENOENT', asked: true });
  const strict = await setup(0);
  await strict.mkdir('/d');
  t.same(await strict.probe('/d/x'), { errno: 'ENOENT', asked: true });
});
