import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../shared/log.js';
import { BLOCK_BYTES_MAX, CHUNK_BYTES } from '../../../shared/limits.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { O_APPEND, O_CREAT, O_RDONLY, O_RDWR, O_WRONLY } from '../../../client/vfs/perms.js';
import type { OpContext } from '../../../client/vfs/types.js';
import { FakeCluster } from './fake-cluster.js';

const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
const ALICE: OpContext = { uid: 1000, gid: 1000, groups: [], pid: 2 };

async function setup(extra: { uploadsInFlightMax?: number } = {}) {
  const cluster = await FakeCluster.create();
  const vfs = new Vfs({ cluster, clock: { nowMs: () => Date.now() }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: 1000, ...extra });
  return { cluster, vfs };
}
function must<T>(r: { ok: true; value: T } | { ok: false; errno: string }): T {
  if (!r.ok) throw new Error(`unexpected ${r.errno}`);
  return r.value;
}

t.test('vfs: a write is read back through the same handle before and after close', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ROOT, '/a', 0o644, O_CREAT | O_RDWR));
  t.equal(must(await vfs.write(ROOT, fd, 0, Buffer.from('hello world'))), 11);
  t.equal(must(await vfs.read(ROOT, fd, 6, 100)).toString(), 'world', 'unflushed write is visible');
  t.equal(must(await vfs.getattr(ROOT, '/a')).size, 11, 'size includes buffered bytes');
  t.equal(cluster.calls.get('commitWrite') ?? 0, 0, 'nothing committed before flush');
  must(await vfs.flush(ROOT, fd));
  must(await vfs.release(ROOT, fd));
  t.equal(cluster.calls.get('commitWrite'), 1);
  const fd2 = must(await vfs.open(ROOT, '/a', O_RDONLY));
  t.equal(must(await vfs.read(ROOT, fd2, 0, 100)).toString(), 'hello world');
  must(await vfs.release(ROOT, fd2));
});

t.test('vfs: overwrites overlay earlier slices; holes read as zeros', async (t) => {
  const { vfs } = await setup();
  const fd = must(await vfs.create(ROOT, '/f', 0o644, O_CREAT | O_RDWR));
  must(await vfs.write(ROOT, fd, 0, Buffer.from('aaaaaaaaaa')));
  must(await vfs.flush(ROOT, fd));
  must(await vfs.write(ROOT, fd, 3, Buffer.from('BBB')));
  must(await vfs.flush(ROOT, fd));
  must(await vfs.write(ROOT, fd, 20, Buffer.from('z')));
  t.equal(must(await vfs.read(ROOT, fd, 0, 100)).toString('latin1'), 'aaaBBBaaaa' + '\0'.repeat(10) + 'z', 'before commit');
  must(await vfs.flush(ROOT, fd));
  t.equal(must(await vfs.read(ROOT, fd, 0, 100)).toString('latin1'), 'aaaBBBaaaa' + '\0'.repeat(10) + 'z', 'after commit');
  must(await vfs.release(ROOT, fd));
});

t.test('vfs: offsets past 4 GiB and across a chunk boundary', async (t) => {
  const { vfs } = await setup();
  const fd = must(await vfs.create(ROOT, '/big', 0o644, O_CREAT | O_RDWR));
  const off = 5 * 2 ** 30 - 100; // 5 GiB - 100: also crosses the chunk boundary at 5 GiB
  t.equal(off % CHUNK_BYTES > CHUNK_BYTES - 200, true);
  const data = randomBytes(300);
  must(await vfs.write(ROOT, fd, off, data));
  must(await vfs.flush(ROOT, fd));
  t.equal(must(await vfs.getattr(ROOT, '/big')).size, off + 300);
  t.same(must(await vfs.read(ROOT, fd, off - 10, 400)), Buffer.concat([Buffer.alloc(10), data]));
  t.same(must(await vfs.read(ROOT, fd, 0, 16)), Buffer.alloc(16), 'the start is a hole');
  must(await vfs.release(ROOT, fd));
});

t.test('vfs: a large sequential write goes as block-sized runs and reads back', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ROOT, '/seq', 0o644, O_CREAT | O_WRONLY));
  const total = 2 * BLOCK_BYTES_MAX + 12345;
  const data = randomBytes(total);
  for (let o = 0; o < total; o += 131072) must(await vfs.write(ROOT, fd, o, data.subarray(o, o + 131072)));
  must(await vfs.release(ROOT, fd));
  t.equal(cluster.calls.get('blockPut'), 3, 'two full blocks and a tail');
  t.equal(cluster.calls.get('blockPutInPlace'), 2, 'the full blocks are framed where they lie, not copied');
  const rd = must(await vfs.open(ROOT, '/seq', O_RDONLY));
  const parts: Buffer[] = [];
  for (let o = 0; o < total; o += 131072) parts.push(must(await vfs.read(ROOT, rd, o, 131072)));
  t.ok(Buffer.concat(parts).equals(data), 'sequential reads with read-ahead return the data');
  must(await vfs.release(ROOT, rd));
});

t.test('vfs: truncate shrinks and grows; the grown part reads as zeros', async (t) => {
  const { vfs } = await setup();
  const fd = must(await vfs.create(ROOT, '/t', 0o644, O_CREAT | O_RDWR));
  must(await vfs.write(ROOT, fd, 0, Buffer.from('0123456789')));
  must(await vfs.ftruncate(ROOT, fd, 4));
  t.equal(must(await vfs.read(ROOT, fd, 0, 100)).toString(), '0123');
  must(await vfs.ftruncate(ROOT, fd, 8));
  t.same(must(await vfs.read(ROOT, fd, 0, 100)), Buffer.from('0123\0\0\0\0', 'latin1'));
  must(await vfs.release(ROOT, fd));
});

t.test('vfs: O_APPEND writes at the end; another handle sees unflushed writes', async (t) => {
  const { vfs } = await setup();
  const a = must(await vfs.create(ROOT, '/ap', 0o666, O_CREAT | O_WRONLY));
  must(await vfs.write(ROOT, a, 0, Buffer.from('abc')));
  const b = must(await vfs.open(ROOT, '/ap', O_WRONLY | O_APPEND));
  must(await vfs.write(ROOT, b, 0, Buffer.from('def')));
  const r = must(await vfs.open(ROOT, '/ap', O_RDONLY));
  t.equal(must(await vfs.read(ROOT, r, 0, 10)).toString(), 'abcdef');
  for (const fd of [a, b, r]) must(await vfs.release(ROOT, fd));
});

t.test('vfs: unlinked open file stays readable until the last close', async (t) => {
  const { vfs } = await setup();
  const fd = must(await vfs.create(ROOT, '/u', 0o644, O_CREAT | O_RDWR));
  must(await vfs.write(ROOT, fd, 0, Buffer.from('still here')));
  must(await vfs.flush(ROOT, fd));
  must(await vfs.unlink(ROOT, '/u'));
  t.equal((await vfs.getattr(ROOT, '/u')).ok, false);
  t.equal(must(await vfs.read(ROOT, fd, 0, 100)).toString(), 'still here');
  must(await vfs.write(ROOT, fd, 10, Buffer.from('!')));
  must(await vfs.flush(ROOT, fd));
  t.equal(must(await vfs.read(ROOT, fd, 0, 100)).toString(), 'still here!');
  must(await vfs.release(ROOT, fd));
});

t.test('vfs: namespace ops, permissions and xattr size protocol', async (t) => {
  const { vfs } = await setup();
  must(await vfs.mkdir(ROOT, '/d', 0o755));
  must(await vfs.mknod(ROOT, '/d/x', 0o100600, 0));
  t.same(await vfs.open(ALICE, '/d/x', O_RDONLY), { ok: false, errno: 'EACCES' });
  must(await vfs.rename(ROOT, '/d', '/e'));
  t.same(await vfs.getattr(ROOT, '/d/x'), { ok: false, errno: 'ENOENT' }, 'the old path is gone (cache invalidated)');
  t.equal(must(await vfs.getattr(ROOT, '/e/x')).mode & 0o777, 0o600);
  must(await vfs.symlink(ROOT, '/e/x', '/s'));
  t.equal(must(await vfs.readlink(ROOT, '/s')), '/e/x');
  must(await vfs.xattrs.set(ROOT, '/e/x', 'user.k', Buffer.from('value'), 0));
  t.equal(must(await vfs.xattrs.get(ROOT, '/e/x', 'user.k', 0)), 5, 'size 0 asks for the size');
  t.same(await vfs.xattrs.get(ROOT, '/e/x', 'user.k', 2), { ok: false, errno: 'ERANGE' });
  t.same(await vfs.xattrs.get(ROOT, '/e/x', 'user.nope'), { ok: false, errno: 'ENODATA' });
  t.same(must(await vfs.readdir(ROOT, '/e')).map((e) => e.name), ['x']);
  t.same(await vfs.rmdir(ROOT, '/e'), { ok: false, errno: 'ENOTEMPTY' });
});

t.test('vfs: a failed upload surfaces as EIO at flush', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ROOT, '/fail', 0o644, O_CREAT | O_RDWR));
  cluster.failPuts = true;
  must(await vfs.write(ROOT, fd, 0, Buffer.from('x')));
  t.same(await vfs.flush(ROOT, fd), { ok: false, errno: 'EIO' });
  cluster.failPuts = false;
  await vfs.release(ROOT, fd);
});

t.test('vfs: a writer past the upload limit waits for uploads and does not spin', async (t) => {
  const { vfs, cluster } = await setup({ uploadsInFlightMax: 1 });
  const fd = must(await vfs.create(ROOT, '/bp', 0o644, O_CREAT | O_WRONLY));
  const chunk = Buffer.alloc(BLOCK_BYTES_MAX, 1);
  for (let i = 0; i < 6; i++) must(await vfs.write(ROOT, fd, i * BLOCK_BYTES_MAX, chunk));
  must(await vfs.release(ROOT, fd));
  t.equal(cluster.calls.get('blockPut'), 6);
  t.equal(must(await vfs.getattr(ROOT, '/bp')).size, 6 * BLOCK_BYTES_MAX);
});
