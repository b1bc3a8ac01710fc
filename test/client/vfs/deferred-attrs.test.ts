// chmod, chown and utimens of a file with buffered writes ride on the commit of those writes
// (client/vfs/deferred-attrs.ts): one Raft entry at the close instead of one each. Until then this
// mount shows them, and whatever could tell the difference waits for them to commit.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../../shared/log.js';
import { compareTime } from '../../../shared/time.js';
import { S_IFREG, S_ISUID } from '../../../shared/types.js';
import { Vfs } from '../../../client/vfs/vfs.js';
import { O_CREAT, O_RDONLY, O_RDWR, O_WRONLY, R_OK } from '../../../client/vfs/perms.js';
import type { OpContext } from '../../../client/vfs/types.js';
import { FakeCluster } from './fake-cluster.js';

const ROOT: OpContext = { uid: 0, gid: 0, groups: [], pid: 1 };
const ALICE: OpContext = { uid: 1000, gid: 1000, groups: [], pid: 2 };
const BOB: OpContext = { uid: 1001, gid: 1001, groups: [], pid: 3 };
const ROOT_CRED = { uid: 0, gid: 0, groups: [] };

async function setup(deferAttrsMs = 60_000) {
  const cluster = await FakeCluster.create();
  const vfs = new Vfs({ cluster, clock: { nowMs: () => Date.now() }, randomHex: () => randomBytes(12).toString('hex'), log: silentLogger, pathTtlMs: 1000, deferAttrsMs });
  must(await vfs.mkdir(ROOT, '/pub', 0o777));
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
/** The file as the cluster has it, not as this mount shows it. */
async function onCluster(cluster: FakeCluster, ino: number) {
  const r = await cluster.sm.query('getattr', { ino });
  if (!r.ok) throw new Error(r.errno);
  return r.value;
}
async function readAll(vfs: Vfs, ctx: OpContext, path: string): Promise<string> {
  const fd = must(await vfs.open(ctx, path, O_RDONLY));
  try {
    return must(await vfs.read(ctx, fd, 0, 1000)).toString();
  } finally {
    must(await vfs.release(ctx, fd));
  }
}

t.test("tar's sequence: write, utimens, chown, chmod wait for the close, which commits them all in one commitWrite", async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ROOT, '/pub/f', 0o600, O_CREAT | O_WRONLY));
  const ino = must(await vfs.getattr(ROOT, '/pub/f')).ino;
  must(await vfs.write(ROOT, fd, 0, Buffer.from('tar member')));
  const sent = counter(cluster);
  must(await vfs.utimens(ROOT, '/pub/f', [7, 8], [5, 6]));
  must(await vfs.chown(ROOT, '/pub/f', 1234, 5678));
  const chmodded = must(await vfs.chmod(ROOT, '/pub/f', 0o640));
  t.same(sent(), { commitWrite: 0, setattr: 0 }, 'nothing sent yet');
  t.match(chmodded, { mode: S_IFREG | 0o640, uid: 1234, gid: 5678, size: 10, mtime: [5, 6], atime: [7, 8] }, "the chmod's reply");
  t.match(must(await vfs.getattr(ROOT, '/pub/f')), { mode: S_IFREG | 0o640, uid: 1234, gid: 5678, size: 10, mtime: [5, 6] }, 'stat on this mount');
  t.match(must(await vfs.fgetattr(ROOT, fd)), { mode: S_IFREG | 0o640, uid: 1234 }, 'fstat');
  t.match(await onCluster(cluster, ino), { mode: S_IFREG | 0o600, uid: 0, size: 0 }, 'the cluster has none of it yet');
  must(await vfs.release(ROOT, fd));
  t.same(sent(), { commitWrite: 1, setattr: 0 }, 'one commitWrite at the close');
  t.match(await onCluster(cluster, ino), { mode: S_IFREG | 0o640, uid: 1234, gid: 5678, size: 10, mtime: [5, 6], atime: [7, 8], version: 1 }, 'committed');
  t.equal(await readAll(vfs, ROOT, '/pub/f'), 'tar member');
});

t.test('fsync commits deferred changes with the data', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ALICE, '/pub/f', 0o600, O_CREAT | O_RDWR));
  must(await vfs.write(ALICE, fd, 0, Buffer.from('x')));
  must(await vfs.chmod(ALICE, '/pub/f', 0o604));
  const sent = counter(cluster);
  must(await vfs.fsync(ALICE, fd));
  t.same(sent(), { commitWrite: 1, setattr: 0 });
  t.match(await onCluster(cluster, must(await vfs.getattr(ALICE, '/pub/f')).ino), { mode: S_IFREG | 0o604, size: 1 });
  must(await vfs.release(ALICE, fd));
});

t.test('a chmod after a write applies after it: setuid given back after an unprivileged write stays', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ALICE, '/pub/f', 0o755, O_CREAT | O_WRONLY));
  must(await vfs.write(ALICE, fd, 0, Buffer.from('#!/bin/sh\n')));
  must(await vfs.chmod(ALICE, '/pub/f', 0o4755));
  must(await vfs.release(ALICE, fd));
  // Applied before the data, the commit of an unprivileged write would take setuid away again.
  t.equal((await onCluster(cluster, must(await vfs.getattr(ALICE, '/pub/f')).ino)).mode & S_ISUID, S_ISUID, 'setuid kept');
});

t.test('a write after a deferred chmod commits the chmod first, so the write takes setuid as on Linux', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ALICE, '/pub/f', 0o755, O_CREAT | O_WRONLY));
  must(await vfs.write(ALICE, fd, 0, Buffer.from('one')));
  must(await vfs.chmod(ALICE, '/pub/f', 0o4755));
  const sent = counter(cluster);
  must(await vfs.write(ALICE, fd, 3, Buffer.from('two')));
  t.same(sent(), { commitWrite: 1, setattr: 1 }, 'the chmod with the first write, then the second write drops setuid');
  must(await vfs.release(ALICE, fd));
  const a = await onCluster(cluster, must(await vfs.getattr(ALICE, '/pub/f')).ino);
  t.match(a, { size: 6 });
  t.equal(a.mode & S_ISUID, 0, 'no setuid after the later write');
  t.equal(await readAll(vfs, ALICE, '/pub/f'), 'onetwo');
});

t.test("another user's open waits for a deferred chmod that lets it in", async (t) => {
  const { vfs } = await setup();
  const fd = must(await vfs.create(ALICE, '/pub/f', 0o600, O_CREAT | O_WRONLY));
  must(await vfs.write(ALICE, fd, 0, Buffer.from('shared now')));
  must(await vfs.chmod(ALICE, '/pub/f', 0o644));
  must(await vfs.access(BOB, '/pub/f', R_OK));
  // Decided on the cluster's mode: 0600 would refuse BOB if the chmod had not been committed first.
  t.equal(await readAll(vfs, BOB, '/pub/f'), 'shared now');
  must(await vfs.release(ALICE, fd));
});

t.test('access answers on the deferred mode', async (t) => {
  const { vfs } = await setup();
  const fd = must(await vfs.create(ALICE, '/pub/f', 0o644, O_CREAT | O_WRONLY));
  must(await vfs.write(ALICE, fd, 0, Buffer.from('x')));
  must(await vfs.chmod(ALICE, '/pub/f', 0o600));
  t.same(await vfs.access(BOB, '/pub/f', R_OK), { ok: false, errno: 'EACCES' });
  must(await vfs.release(ALICE, fd));
});

t.test("a deferred chown's loss of file capabilities shows in getxattr before the close", async (t) => {
  const { vfs } = await setup();
  const fd = must(await vfs.create(ROOT, '/pub/f', 0o755, O_CREAT | O_WRONLY));
  must(await vfs.write(ROOT, fd, 0, Buffer.from('x')));
  must(await vfs.fsync(ROOT, fd));
  const cap = Buffer.from('0100000200000000000000000000000000000000', 'hex');
  must(await vfs.xattrs.set(ROOT, '/pub/f', 'security.capability', cap, 0));
  must(await vfs.write(ROOT, fd, 1, Buffer.from('y')));
  must(await vfs.chown(ROOT, '/pub/f', 1000, 1000));
  t.same(await vfs.xattrs.get(ROOT, '/pub/f', 'security.capability'), { ok: false, errno: 'ENODATA' });
  must(await vfs.release(ROOT, fd));
});

t.test('unlink and rename wait for deferred changes (a sticky directory lets the owner do them)', async (t) => {
  const { vfs } = await setup();
  must(await vfs.chmod(ROOT, '/pub', 0o1777));
  const fd = must(await vfs.create(ROOT, '/pub/f', 0o644, O_CREAT | O_WRONLY));
  must(await vfs.write(ROOT, fd, 0, Buffer.from('x')));
  must(await vfs.chown(ROOT, '/pub/f', ALICE.uid, ALICE.gid));
  must(await vfs.rename(ALICE, '/pub/f', '/pub/g'));
  must(await vfs.unlink(ALICE, '/pub/g'));
  must(await vfs.release(ROOT, fd));
});

t.test('changes the cluster would refuse are sent at once, and the caller gets the errno', async (t) => {
  const { vfs, cluster } = await setup();
  const fd0 = must(await vfs.create(ALICE, '/pub/f', 0o666, O_CREAT | O_WRONLY));
  must(await vfs.release(ALICE, fd0));
  const bob = must(await vfs.open(BOB, '/pub/f', O_RDWR));
  must(await vfs.write(BOB, bob, 0, Buffer.from('bob wrote this')));
  const sent = counter(cluster);
  t.same(await vfs.utimens(BOB, '/pub/f', [7, 8], [5, 6]), { ok: false, errno: 'EPERM' }, 'explicit times by a non-owner');
  t.same(await vfs.chmod(BOB, '/pub/f', 0o777), { ok: false, errno: 'EPERM' }, "chmod by a non-owner");
  t.same(sent(), { commitWrite: 1, setattr: 2 }, 'the data first (order), then each setattr');
  const ino = must(await vfs.getattr(BOB, '/pub/f')).ino;
  const after = await onCluster(cluster, ino);
  t.equal(after.size, 14, 'the data is committed');
  t.not(compareTime(after.mtime, [5, 6]), 0, 'the times are not');
  // 'now' by a writer with write permission is sure to be accepted: it waits for the close.
  must(await vfs.write(BOB, bob, 14, Buffer.from('!')));
  const now = counter(cluster);
  must(await vfs.utimens(BOB, '/pub/f', 'now', 'now'));
  t.same(now(), { commitWrite: 0, setattr: 0 });
  must(await vfs.release(BOB, bob));
  t.same(now(), { commitWrite: 1, setattr: 0 });
  t.equal(await readAll(vfs, ALICE, '/pub/f'), 'bob wrote this!');
});

t.test('a deferred change refused at the commit (another mount took the file): the data stays, the close reports it', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ALICE, '/pub/f', 0o644, O_CREAT | O_WRONLY));
  const ino = must(await vfs.getattr(ALICE, '/pub/f')).ino;
  must(await vfs.write(ALICE, fd, 0, Buffer.from('alice data')));
  must(await vfs.chmod(ALICE, '/pub/f', 0o600));
  must(await vfs.utimens(ALICE, '/pub/f', undefined, [5, 6]));
  // Another mount's root gives the file to BOB meanwhile: ALICE's chmod and times are not hers to make now.
  await cluster.meta('setattr', { ino, cred: ROOT_CRED, uid: BOB.uid });
  const sent = counter(cluster);
  t.same(await vfs.release(ALICE, fd), { ok: false, errno: 'EPERM' }, 'the close reports the refusal');
  t.same(sent(), { commitWrite: 2, setattr: 2 }, 'refused whole, the data alone, then each change alone');
  const after = await onCluster(cluster, ino);
  t.match(after, { size: 10, uid: BOB.uid, mode: S_IFREG | 0o644 }, 'the data is committed, the chmod is not');
  t.not(compareTime(after.mtime, [5, 6]), 0);
  t.equal(await readAll(vfs, BOB, '/pub/f'), 'alice data');
});

t.test('with nothing buffered a change is sent at once', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ROOT, '/pub/f', 0o644, O_CREAT | O_RDWR));
  must(await vfs.write(ROOT, fd, 0, Buffer.from('x')));
  must(await vfs.flush(ROOT, fd));
  const sent = counter(cluster);
  t.match(must(await vfs.utimens(ROOT, '/pub/f', undefined, [5, 6])), { mtime: [5, 6] });
  t.same(sent(), { commitWrite: 0, setattr: 1 });
  must(await vfs.release(ROOT, fd));
});

t.test('past DEFERRED_MAX changes on one file, the buffered ones are committed and the next is sent', async (t) => {
  const { vfs, cluster } = await setup();
  const fd = must(await vfs.create(ROOT, '/pub/f', 0o644, O_CREAT | O_WRONLY));
  must(await vfs.write(ROOT, fd, 0, Buffer.from('x')));
  const sent = counter(cluster);
  for (let i = 0; i < 17; i++) must(await vfs.chmod(ROOT, '/pub/f', 0o600 + i));
  t.same(sent(), { commitWrite: 1, setattr: 1 });
  t.equal((await onCluster(cluster, must(await vfs.getattr(ROOT, '/pub/f')).ino)).mode, S_IFREG | 0o620);
  must(await vfs.release(ROOT, fd));
});

t.test('a file kept open: deferred changes are committed deferAttrsMs after they were made', async (t) => {
  const { vfs, cluster } = await setup(100);
  const fd = must(await vfs.create(ALICE, '/pub/f', 0o600, O_CREAT | O_WRONLY));
  const ino = must(await vfs.getattr(ALICE, '/pub/f')).ino;
  must(await vfs.write(ALICE, fd, 0, Buffer.from('log line\n')));
  must(await vfs.chmod(ALICE, '/pub/f', 0o644));
  const sent = counter(cluster);
  await new Promise((r) => setTimeout(r, 400));
  t.same(sent(), { commitWrite: 1, setattr: 0 }, 'committed without a close');
  t.match(await onCluster(cluster, ino), { mode: S_IFREG | 0o644, size: 9 }, 'with the data before it');
  must(await vfs.release(ALICE, fd));
});

t.test('strict mounts (deferAttrsMs 0) send every change at once', async (t) => {
  const { vfs, cluster } = await setup(0);
  const fd = must(await vfs.create(ROOT, '/pub/f', 0o600, O_CREAT | O_WRONLY));
  must(await vfs.write(ROOT, fd, 0, Buffer.from('x')));
  const sent = counter(cluster);
  must(await vfs.chmod(ROOT, '/pub/f', 0o644));
  t.same(sent(), { commitWrite: 1, setattr: 1 }, 'the data, then the chmod, in order');
  must(await vfs.release(ROOT, fd));
});

t.test("an owner's chown that keeps her uid and gives one of her groups waits too (cp -p); one that would fail does not", async (t) => {
  const { vfs, cluster } = await setup();
  const carol: OpContext = { uid: 1002, gid: 1002, groups: [50], pid: 4 };
  const fd = must(await vfs.create(carol, '/pub/f', 0o2755, O_CREAT | O_WRONLY));
  const ino = must(await vfs.getattr(carol, '/pub/f')).ino;
  must(await vfs.write(carol, fd, 0, Buffer.from('copied')));
  const sent = counter(cluster);
  must(await vfs.utimens(carol, '/pub/f', [7, 8], [5, 6]));
  must(await vfs.chown(carol, '/pub/f', carol.uid, 50));
  t.same(sent(), { commitWrite: 0, setattr: 0 }, 'both held');
  t.match(must(await vfs.getattr(carol, '/pub/f')), { gid: 50, mode: S_IFREG | 0o755 }, 'the new group; setgid gone with the chown, as the cluster does');
  t.same(await vfs.chown(carol, '/pub/f', -1, 0), { ok: false, errno: 'EPERM' }, 'a group she is not in: sent, refused');
  t.same(sent(), { commitWrite: 1, setattr: 1 }, 'the held ones first, then the refused one');
  must(await vfs.release(carol, fd));
  t.match(await onCluster(cluster, ino), { gid: 50, mode: S_IFREG | 0o755, mtime: [5, 6], size: 6 });
});
