import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../shared/log.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { O_CREAT, O_RDONLY, O_RDWR } from '../../../client/vfs/perms.js';
import type { OpContext } from '../../../client/vfs/types.js';
import { FakeCluster } from './fake-cluster.js';

const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
function must<T>(r: { ok: true; value: T } | { ok: false; errno: string }): T {
  if (!r.ok) throw new Error(`unexpected ${r.errno}`);
  return r.value;
}
const settle = () => new Promise((r) => setTimeout(r, 50));

t.test('vfs: after a new session, every open handle is registered again, not one per inode', async (t) => {
  const cluster = await FakeCluster.create();
  const vfs = new Vfs({ cluster, clock: { nowMs: () => Date.now() }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: 0 });
  const w = must(await vfs.create(ROOT, '/f', 0o644, O_CREAT | O_RDWR));
  must(await vfs.write(ROOT, w, 0, Buffer.from('kept while open')));
  must(await vfs.flush(ROOT, w));
  const r = must(await vfs.open(ROOT, '/f', O_RDONLY));
  const ino = must(await vfs.getattr(ROOT, '/f')).ino;

  await cluster.replaceSession();
  await settle(); // re-registration runs in the background, as after a real lease loss
  must(await vfs.unlink(ROOT, '/f'));
  must(await vfs.release(ROOT, w));
  await settle();
  t.equal((await cluster.sm.query('getattr', { ino })).ok, true, 'one handle still open: the orphan lives');
  t.equal(must(await vfs.read(ROOT, r, 0, 64)).toString(), 'kept while open');
  must(await vfs.release(ROOT, r));
  await settle();
  t.same(await cluster.sm.query('getattr', { ino }), { ok: false, errno: 'ENOENT' }, 'collected at the last close');
});
