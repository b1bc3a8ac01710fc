import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../shared/log.js';
import { Compactor } from '../../../client/vfs/compact.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { O_CREAT, O_RDONLY, O_RDWR } from '../../../client/vfs/perms.js';
import type { OpContext, VfsOptions } from '../../../client/vfs/types.js';
import { FakeCluster } from './fake-cluster.js';

const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
function must<T>(r: { ok: true; value: T } | { ok: false; errno: string }): T {
  if (!r.ok) throw new Error(`unexpected ${r.errno}`);
  return r.value;
}
const opts = (cluster: FakeCluster): VfsOptions => ({ cluster, clock: { nowMs: () => Date.now() }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: 1000 });

t.test('reader: a layout from before another mount compacted the chunk is read again when its blocks are gone', async (t) => {
  const cluster = await FakeCluster.create();
  const a = new Vfs(opts(cluster));
  const size = 300_000;
  const ref = Buffer.alloc(size);
  const fd = must(await a.create(ROOT, '/f', 0o644, O_CREAT | O_RDWR));
  for (const [off, len, fill] of [[0, size, 1], [50_000, 70_000, 2], [10_000, 5_000, 3], [200_000, 90_000, 4]] as const) {
    const buf = Buffer.alloc(len, fill);
    buf.copy(ref, off);
    must(await a.write(ROOT, fd, off, buf));
    must(await a.flush(ROOT, fd)); // one slice each
  }
  must(await a.release(ROOT, fd));
  const rd = must(await a.open(ROOT, '/f', O_RDONLY));
  t.same(must(await a.read(ROOT, rd, 123_456, 10)), ref.subarray(123_456, 123_466), 'the layout is cached now');
  const { ino } = must(await a.getattr(ROOT, '/f'));
  const before = (await cluster.meta('readChunk', { ino, chunk: 0 })).slices;

  t.equal(await new Compactor(opts(cluster)).compact(ino, 0, 1), 'compacted', 'another mount compacts the chunk');
  const after = new Set((await cluster.meta('readChunk', { ino, chunk: 0 })).slices.map((s) => s.block));
  for (const s of before) if (!after.has(s.block)) cluster.blocks.delete(s.block); // the collector takes the old blocks

  const readChunks = cluster.calls.get('readChunk') ?? 0;
  const r = await a.read(ROOT, rd, 0, size);
  t.ok(r.ok, 'no EIO');
  t.ok(r.ok && r.value.equals(ref), 'the bytes are those written');
  t.ok((cluster.calls.get('readChunk') ?? 0) > readChunks, 'the layout was read again');
  must(await a.release(ROOT, rd));
});

t.test('vfs: utimens after buffered writes keeps the times it set (tar sets mtime before close)', async (t) => {
  const cluster = await FakeCluster.create();
  const a = new Vfs(opts(cluster));
  const fd = must(await a.create(ROOT, '/t', 0o644, O_CREAT | O_RDWR));
  must(await a.write(ROOT, fd, 0, Buffer.from('data')));
  must(await a.utimens(ROOT, '/t', [1000, 0], [2000, 500]));
  must(await a.release(ROOT, fd));
  const attr = must(await a.getattr(ROOT, '/t'));
  t.same(attr.mtime, [2000, 500], 'the commit at close did not stamp over mtime');
  t.equal(attr.size, 4);
});
