import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../shared/log.js';
import type { MetaArgs } from '../../../client/rpc/cluster-client.js';
import { VfsLocks, type LockCluster } from '../../../client/vfs/locks.js';
import { O_CREAT, O_RDWR } from '../../../client/vfs/perms.js';
import type { OpContext } from '../../../client/vfs/types.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { FakeCluster } from './fake-cluster.js';

const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
const F_SETLK = 6, F_WRLCK = 1, F_UNLCK = 2, LOCK_EX = 2;
const whole = (type: number) => ({ type, whence: 0, start: 0, len: 0, pid: 1 });

/** VfsLocks over the files of a VFS on the in-memory cluster; every lock request is granted and recorded. */
async function setup() {
  const cluster = await FakeCluster.create();
  const vfs = new Vfs({ cluster, clock: { nowMs: () => Date.now() }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: 1000 });
  const sent: MetaArgs<'lock'>[] = [];
  const lockCluster: LockCluster = {
    meta: (async (op: string, args: unknown) => {
      if (op === 'lock') { sent.push(args as MetaArgs<'lock'>); return { state: 'granted' }; }
      return cluster.meta(op as 'getattr', args as MetaArgs<'getattr'>);
    }) as LockCluster['meta'],
    lease: () => ({ startMs: Date.now(), leaseMs: 20_000 }),
  };
  const locks = new VfsLocks(lockCluster, vfs.files, { nowMs: () => Date.now() }, silentLogger);
  const held: boolean[] = [];
  locks.watchPosixLocks((h) => held.push(h));
  const r = await vfs.create(ROOT, '/f', 0o644, O_CREAT | O_RDWR);
  if (!r.ok) throw new Error(r.errno);
  return { locks, sent, held, fd: r.value };
}

t.test('locks: the POSIX-held signal follows the first lock and the last full unlock; flocks do not count', async (t) => {
  const { locks, held, fd } = await setup();
  t.same(held, [false], 'told at once: nothing held');
  t.ok((await locks.flock(fd, LOCK_EX, 9n)).ok);
  t.same(held, [false], 'a flock is not a POSIX lock');
  t.ok((await locks.posix(fd, F_SETLK, whole(F_WRLCK), 7n)).ok);
  t.ok((await locks.posix(fd, F_SETLK, whole(F_WRLCK), 8n)).ok);
  t.same(held, [false, true], 'one change for two owners');
  t.ok((await locks.posix(fd, F_SETLK, whole(F_UNLCK), 7n)).ok);
  t.same(held, [false, true], 'owner 8 still holds');
  t.ok((await locks.posix(fd, F_SETLK, whole(F_UNLCK), 8n)).ok);
  t.same(held, [false, true, false]);
});

t.test('locks: a replaced session fences the file, unlocks every owner on the cluster and clears the POSIX-held signal', async (t) => {
  const { locks, sent, held, fd } = await setup();
  t.ok((await locks.posix(fd, F_SETLK, whole(F_WRLCK), 7n)).ok);
  t.ok((await locks.flock(fd, LOCK_EX, 9n)).ok);
  sent.length = 0;
  locks.sessionReplaced();
  t.same(sent.map((a) => [a.owner, a.kind, a.type]).sort(), [['f9', 'flock', 'u'], ['p7', 'posix', 'u']], 'a best-effort unlock per owner');
  t.same(held, [false, true, false]);
  t.equal(locks.checkWrite(fd), 'EIO', 'the handle is fenced');
});
