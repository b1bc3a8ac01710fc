// The VFS keeps the kernel's attribute and name caches coherent (client/vfs/kernel-cache.ts): these
// tests record what it asks the kernel to drop, and when, with two VFSs over one cluster as two mounts.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../shared/log.js';
import { KernelCache, type KernelInvalidator } from '../../../client/vfs/kernel-cache.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { O_CREAT, O_RDONLY, O_RDWR, O_WRONLY } from '../../../client/vfs/perms.js';
import type { OpContext } from '../../../client/vfs/types.js';
import { FakeCluster } from './fake-cluster.js';

const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
const must = <T>(r: { ok: true; value: T } | { ok: false; errno: string }): T => {
  if (!r.ok) throw new Error(`unexpected ${r.errno}`);
  return r.value;
};

/** A kernel that records what it is told to drop; `log` also gets the VFS's own markers. */
function recordingKernel() {
  const log: string[] = [];
  const k: KernelInvalidator = {
    invalidateInode: async (ino) => { log.push(`inode ${ino}`); return 1; },
    invalidateEntry: async (parent, name) => { log.push(`entry ${parent}/${name}`); return 1; },
  };
  return { k, log };
}

async function setup() {
  const cluster = await FakeCluster.create();
  const opts = { cluster, clock: { nowMs: () => Date.now() }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: 1000 };
  const a = new Vfs(opts);
  const b = new Vfs(opts);
  const { k, log } = recordingKernel();
  b.attachKernel(new KernelCache(k, silentLogger));
  return { a, b, log };
}

async function writeFile(v: Vfs, path: string, data: string, flags = O_CREAT | O_WRONLY): Promise<void> {
  const fd = must(await (flags & O_CREAT ? v.create(ROOT, path, 0o644, flags) : v.open(ROOT, path, flags)));
  must(await v.write(ROOT, fd, 0, Buffer.from(data)));
  must(await v.flush(ROOT, fd));
  must(await v.release(ROOT, fd));
}

t.test('open drops the kernel copy when another mount changed the file since the kernel got it (close-to-open)', async (t) => {
  const { a, b, log } = await setup();
  await writeFile(a, '/f', 'one');
  const ino = must(await b.getattr(ROOT, '/f')).ino; // the kernel of B caches these
  let fd = must(await b.open(ROOT, '/f', O_RDONLY));
  must(await b.release(ROOT, fd));
  t.same(log, [], 'nothing changed: nothing dropped');
  await writeFile(a, '/f', 'two and more', O_WRONLY);
  fd = must(await b.open(ROOT, '/f', O_RDONLY));
  t.same(log, [`inode ${ino}`], 'dropped before the open answered');
  must(await b.release(ROOT, fd));
  // The kernel asked again after the drop: it holds the new attributes, nothing to drop.
  must(await b.getattr(ROOT, '/f'));
  fd = must(await b.open(ROOT, '/f', O_RDONLY));
  must(await b.release(ROOT, fd));
  t.same(log, [`inode ${ino}`], 'once');
});

t.test('a chmod by another mount also counts (it moves ctime, not the data version)', async (t) => {
  const { a, b, log } = await setup();
  await writeFile(a, '/f', 'x');
  const ino = must(await b.getattr(ROOT, '/f')).ino;
  must(await a.chmod(ROOT, '/f', 0o600));
  const fd = must(await b.open(ROOT, '/f', O_RDONLY));
  must(await b.release(ROOT, fd));
  t.same(log, [`inode ${ino}`]);
});

t.test('close drops the kernel copy that predates its own data commit', async (t) => {
  const { b, log } = await setup();
  const fd = must(await b.create(ROOT, '/g', 0o644, O_CREAT | O_RDWR));
  const ino = must(await b.fgetattr(ROOT, fd)).ino; // served before the data exists
  must(await b.write(ROOT, fd, 0, Buffer.from('data')));
  must(await b.flush(ROOT, fd));
  t.same(log, [`inode ${ino}`], 'the commit moved ctime/mtime past the served copy');
  must(await b.release(ROOT, fd));
  t.same(log, [`inode ${ino}`], 'the release had nothing new');
});

t.test('link drops the first name\'s copy (its link count)', async (t) => {
  const { b, log } = await setup();
  const fd = must(await b.create(ROOT, '/h', 0o644, O_CREAT | O_RDWR));
  must(await b.release(ROOT, fd));
  const ino = must(await b.getattr(ROOT, '/h')).ino;
  log.length = 0;
  must(await b.link(ROOT, '/h', '/h2'));
  t.same(log, [`inode ${ino}`]);
});

t.test('pushed changes drop the kernel copies and this mount\'s own path cache', async (t) => {
  const { a, b, log } = await setup();
  await writeFile(a, '/p', 'x');
  const ino = must(await b.getattr(ROOT, '/p')).ino;
  must(await a.unlink(ROOT, '/p'));
  t.ok((await b.getattr(ROOT, '/p')).ok, 'within the path TTL B still answers from its cache');
  await b.remoteChanged({ inos: [ino], entries: [[1, 'p']] });
  t.same(log, [`inode ${ino}`, 'entry 1/p']);
  const r = await b.getattr(ROOT, '/p');
  t.same(r.ok ? 'ok' : r.errno, 'ENOENT', 'the push made B ask the cluster');
  log.length = 0;
  const q = must(await b.getattr(ROOT, '/')).ino;
  await b.remoteChanged({ all: true });
  t.same(log, [`inode ${q}`], 'all: every inode the kernel was served and still holds');
});
