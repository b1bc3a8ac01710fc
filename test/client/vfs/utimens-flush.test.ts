// utimens of a file with buffered writes: the times ride on the flush's last commitWrite (one Raft
// entry, docs/perf-meta.md). If that entry is refused, the data is committed alone and the setattr
// reports the errno.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../shared/log.js';
import { compareTime } from '../../../shared/time.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { O_CREAT, O_RDONLY, O_RDWR, O_WRONLY } from '../../../client/vfs/perms.js';
import type { OpContext } from '../../../client/vfs/types.js';
import { FakeCluster } from './fake-cluster.js';

const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
const ALICE: OpContext = { uid: 1000, gid: 1000, groups: [], pid: 2 };
const BOB: OpContext = { uid: 1001, gid: 1001, groups: [], pid: 3 };

async function setup() {
  const cluster = await FakeCluster.create();
  const vfs = new Vfs({ cluster, clock: { nowMs: () => Date.now() }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: 1000 });
  return { cluster, vfs };
}
function must<T>(r: { ok: true; value: T } | { ok: false; errno: string }): T {
  if (!r.ok) throw new Error(`unexpected ${r.errno}`);
  return r.value;
}
/** Requests per op from here on. */
function counter(cluster: FakeCluster): () => Record<string, number> {
  const before = new Map(cluster.calls);
  return () => {
    const out: Record<string, number> = {};
    for (const op of ['commitWrite', 'setattr']) out[op] = (cluster.calls.get(op) ?? 0) - (before.get(op) ?? 0);
    return out;
  };
}
/** The file as the cluster has it (not this mount's buffers): a fresh handle after the mount's own were closed. */
async function onCluster(cluster: FakeCluster, ino: number) {
  const r = await cluster.sm.query('getattr', { ino });
  if (!r.ok) throw new Error(r.errno);
  return r.value;
}

/** /pub/f: ALICE's, mode 0666, in a directory everyone may write; returns BOB's handle on it. */
async function bobWriting(vfs: Vfs, flags: number): Promise<number> {
  must(await vfs.mkdir(ROOT, '/pub', 0o777));
  const fd = must(await vfs.create(ALICE, '/pub/f', 0o666, O_CREAT | O_WRONLY));
  must(await vfs.release(ALICE, fd));
  return must(await vfs.open(BOB, '/pub/f', flags));
}

t.test('utimens after a write sends one commitWrite carrying the times and no setattr', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ROOT, '/f', 0o644, O_CREAT | O_WRONLY));
  must(await vfs.write(ROOT, fd, 0, Buffer.from('tar member')));
  const sent = counter(cluster);
  const a = must(await vfs.utimens(ROOT, '/f', [7, 8], [5, 6]));
  t.same(sent(), { commitWrite: 1, setattr: 0 });
  t.match(a, { size: 10, mtime: [5, 6], atime: [7, 8] }, 'the reply');
  t.match(await onCluster(cluster, a.ino), { size: 10, mtime: [5, 6], atime: [7, 8], version: 1 }, 'committed');
  must(await vfs.release(ROOT, fd));
  t.same(sent(), { commitWrite: 1, setattr: 0 }, 'close has nothing left to commit');
  const rd = must(await vfs.open(ROOT, '/f', O_RDONLY));
  t.equal(must(await vfs.read(ROOT, rd, 0, 100)).toString(), 'tar member');
  must(await vfs.release(ROOT, rd));
});

t.test('utimens with nothing buffered sends a plain setattr', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ROOT, '/f', 0o644, O_CREAT | O_RDWR));
  must(await vfs.write(ROOT, fd, 0, Buffer.from('x')));
  must(await vfs.flush(ROOT, fd));
  const sent = counter(cluster);
  t.match(must(await vfs.utimens(ROOT, '/f', undefined, [5, 6])), { mtime: [5, 6] });
  t.same(sent(), { commitWrite: 0, setattr: 1 });
  must(await vfs.release(ROOT, fd));
});

t.test('utimens refused with EPERM after a write: the data is committed alone, setattr reports EPERM', async (t) => {
  const { vfs, cluster } = await setup();
  const bob = await bobWriting(vfs, O_RDWR);
  must(await vfs.write(BOB, bob, 0, Buffer.from('bob wrote this')));
  const sent = counter(cluster);
  const r = await vfs.utimens(BOB, '/pub/f', [7, 8], [5, 6]);
  t.same(r, { ok: false, errno: 'EPERM' }, 'explicit times by a non-owner');
  t.same(sent(), { commitWrite: 2, setattr: 1 }, 'refused commit, commit alone, setattr');
  const ino = must(await vfs.getattr(BOB, '/pub/f')).ino;
  const after = await onCluster(cluster, ino);
  t.equal(after.size, 14, 'the data is committed');
  t.not(compareTime(after.mtime, [5, 6]), 0, 'the times are not');
  // The writer is not left in error: 'now' by a writer with write permission rides along.
  must(await vfs.write(BOB, bob, 14, Buffer.from('!')));
  const now = counter(cluster);
  must(await vfs.utimens(BOB, '/pub/f', 'now', 'now'));
  t.same(now(), { commitWrite: 1, setattr: 0 });
  must(await vfs.release(BOB, bob));
  const rd = must(await vfs.open(ALICE, '/pub/f', O_RDONLY));
  t.equal(must(await vfs.read(ALICE, rd, 0, 100)).toString(), 'bob wrote this!');
  must(await vfs.release(ALICE, rd));
});

t.test("utimens to 'now' refused with EACCES after a write keeps the data too", async (t) => {
  const { vfs, cluster } = await setup();
  const bob = await bobWriting(vfs, O_WRONLY);
  must(await vfs.chmod(ALICE, '/pub/f', 0o644)); // bob's open handle still writes
  must(await vfs.write(BOB, bob, 0, Buffer.from('data')));
  const sent = counter(cluster);
  t.same(await vfs.utimens(BOB, '/pub/f', 'now', 'now'), { ok: false, errno: 'EACCES' });
  t.same(sent(), { commitWrite: 2, setattr: 1 });
  t.equal((await onCluster(cluster, must(await vfs.getattr(BOB, '/pub/f')).ino)).size, 4);
  must(await vfs.release(BOB, bob));
});
