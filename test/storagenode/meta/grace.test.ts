import t from 'tap';
import { inoRuns, REAP_BATCH_MAX } from '../../../storagenode/meta/ops/lifecycle.js';
import { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';
import { ALICE, BOB, CountingKv, Harness, ROOT, ROOT_INO } from './harness.js';

/**
 * Unlinked files nobody has registered open wait out a grace period before they are deleted
 * (ops/lifecycle.ts retire / reapOrphans): a read-only open (`openRead`) returns unregistered and its
 * registration rides on a later entry (`opens`), which must still find the file.
 */
const O_RDONLY = 0, O_WRONLY = 1, O_TRUNC = 0o1000;

async function setup(): Promise<Harness> {
  const h = await Harness.create();
  h.autoReap = false;
  return h;
}

async function fileWithData(h: Harness, name: string): Promise<{ ino: number; block: string }> {
  const f = await h.create(ROOT_INO, name);
  const block = h.block();
  await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 10, block, off: 0 }], cred: ROOT });
  return { ino: f.ino, block };
}

t.test('grace: an unlinked file nobody opened is kept for the grace period, then reaped', async (t) => {
  const h = await setup();
  const { ino, block } = await fileWithData(h, 'f');
  const retiredAt = h.nowMs;
  await h.must('unlink', { parent: ROOT_INO, name: 'f', cred: ROOT });
  t.equal((await h.attr(ino)).nlink, 0, 'kept, nameless');
  t.same(await h.sm.blocksReferenced([block]), [true], 'with its blocks');
  t.same(await h.reap(retiredAt), { ok: true, value: { reaped: 0, more: false } }, 'not reaped before its grace ends');
  t.equal(await h.sm.orphansDue(retiredAt), false);
  t.equal(await h.sm.orphansDue(retiredAt + 1), true);
  t.same(await h.reap(retiredAt + 1), { ok: true, value: { reaped: 1, more: false } });
  t.same(await h.q('getattr', { ino }), { ok: false, errno: 'ENOENT' }, 'deleted');
  t.same(await h.sm.blocksReferenced([block]), [false], 'its blocks are unreferenced');
  t.equal(await h.sm.orphansDue(h.nowMs + 1), false, 'nothing left to reap');
});

t.test('grace: an open registered late keeps a retired file; its last close retires it again', async (t) => {
  const h = await setup();
  const s = await h.session();
  const { ino } = await fileWithData(h, 'f');
  const r = await h.q('openRead', { parent: ROOT_INO, name: 'f', flags: O_RDONLY, cred: ALICE });
  t.equal(r.ok && r.value.ino, ino, 'openRead resolves the name');
  await h.must('unlink', { parent: ROOT_INO, name: 'f', cred: ROOT }); // another mount, before the registration
  h.nowMs += 10;
  await h.must('release', { session: s, opens: [ino] }); // the registration, riding on this mount's next request
  h.nowMs += 60_000;
  t.same(await h.reap(), { ok: true, value: { reaped: 0, more: false } }, 'open: not reaped');
  t.equal((await h.attr(ino)).nlink, 0);
  await h.must('release', { session: s, ino });
  t.same(await h.reap(h.nowMs), { ok: true, value: { reaped: 0, more: false } }, 'the close starts a new grace period');
  t.same(await h.reap(), { ok: true, value: { reaped: 1, more: false } });
  t.same(await h.q('getattr', { ino }), { ok: false, errno: 'ENOENT' });
});

t.test('grace: carried opens go before the op, skip deleted inodes, and need a session', async (t) => {
  const h = await setup();
  const s = await h.session();
  const { ino } = await fileWithData(h, 'f');
  await h.must('unlink', { parent: ROOT_INO, name: 'f', cred: ROOT, session: s, opens: [ino] });
  h.nowMs += 60_000;
  t.same(await h.reap(), { ok: true, value: { reaped: 0, more: false } }, 'registered before the unlink: an open orphan');
  t.same(await h.run('release', { session: s, opens: [123456] }), { ok: true, value: {} }, 'a deleted inode is skipped');
  t.equal(await h.errno('mkdir', { parent: ROOT_INO, name: 'd', mode: 0o755, cred: ROOT, opens: [ino] }), 'EINVAL', 'no session to register under');
});

t.test('grace: opens carried under a lapsed session register nothing (a release is not refused for one)', async (t) => {
  const h = await setup();
  const s = await h.session(); // 20 s lease
  const { ino } = await fileWithData(h, 'f');
  h.nowMs += 30_000;
  t.same(await h.run('release', { session: s, opens: [ino] }), { ok: true, value: {} });
  await h.must('unlink', { parent: ROOT_INO, name: 'f', cred: ROOT });
  t.same(await h.reap(), { ok: true, value: { reaped: 1, more: false } }, 'nothing kept it: no open of a dead session');
});

t.test('grace: openRead checks like open, refuses writing and truncating, and registers nothing', async (t) => {
  const h = await setup();
  const { ino } = await fileWithData(h, 'f');
  await h.must('setattr', { ino, mode: 0o600, cred: ROOT });
  t.same(await h.q('openRead', { parent: ROOT_INO, name: 'f', flags: O_RDONLY, cred: BOB }), { ok: false, errno: 'EACCES' });
  t.same(await h.q('openRead', { ino, flags: O_WRONLY, cred: ROOT }), { ok: false, errno: 'EINVAL' });
  t.same(await h.q('openRead', { ino, flags: O_RDONLY | O_TRUNC, cred: ROOT }), { ok: false, errno: 'EINVAL' });
  t.same(await h.q('openRead', { parent: ROOT_INO, name: 'nope', flags: O_RDONLY, cred: ROOT }), { ok: false, errno: 'ENOENT' });
  t.equal((await h.q('openRead', { ino, flags: O_RDONLY, cred: ROOT })).ok, true);
  await h.must('unlink', { parent: ROOT_INO, name: 'f', cred: ROOT });
  t.same(await h.q('openRead', { ino, flags: O_RDONLY, cred: ROOT }), { ok: false, errno: 'ENOENT' }, 'a nameless inode cannot be opened');
  h.nowMs += 1;
  t.same(await h.reap(), { ok: true, value: { reaped: 1, more: false } }, 'the earlier openRead registered nothing');
});

t.test('grace: one reaping entry deletes at most REAP_BATCH_MAX inodes', async (t) => {
  const h = await setup();
  const n = REAP_BATCH_MAX + 10;
  for (let i = 0; i < n; i++) {
    await h.create(ROOT_INO, `f${i}`);
    await h.must('unlink', { parent: ROOT_INO, name: `f${i}`, cred: ROOT });
  }
  h.nowMs += 1;
  t.same(await h.reap(), { ok: true, value: { reaped: REAP_BATCH_MAX, more: true } });
  t.same(await h.reap(), { ok: true, value: { reaped: 10, more: false } });
});

t.test('grace: a reaping entry scans chunks and xattrs once per run of consecutive inodes, and touches no other inode', async (t) => {
  const kv = new CountingKv();
  const h = new Harness(await MetaStateMachine.memory(kv));
  h.autoReap = false;
  // 200 files made together, every one with data and an xattr; a kept file numbered in their middle.
  const files: { ino: number; block: string }[] = [];
  for (let i = 0; i < 200; i++) {
    const f = await fileWithData(h, `f${i}`);
    await h.must('setxattr', { ino: f.ino, name: 'user.k', value: Buffer.from('v'), flags: 0, cred: ROOT });
    files.push(f);
  }
  const kept = files[100]!;
  await h.must('rename', { parent: ROOT_INO, name: 'f100', newParent: ROOT_INO, newName: 'kept', flags: 0, cred: ROOT });
  const before = h.sm.usage();
  for (let i = 0; i < 200; i++) if (i !== 100) await h.must('unlink', { parent: ROOT_INO, name: `f${i}`, cred: ROOT });
  h.nowMs += 1;
  kv.ranges = 0;
  t.same(await h.reap(), { ok: true, value: { reaped: 199, more: false } });
  t.ok(kv.ranges <= 1 + 2 * 2, `one scan of the due keys and two per run (two runs here): ${kv.ranges} scans`);
  t.same(h.sm.usage(), { inodes: before.inodes - 199, bytes: before.bytes - 199 * 10 }, 'counters drop by what was reaped');
  for (const f of [files[0]!, files[99]!, files[101]!, files[199]!]) {
    t.same(await h.q('getattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' }, `inode ${f.ino} deleted`);
    t.same(await h.sm.blocksReferenced([f.block]), [false], 'its block unreferenced');
    t.same(await h.q('listxattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' });
  }
  t.equal((await h.attr(kept.ino)).size, 10, 'the file numbered between them keeps its data');
  t.same(await h.sm.blocksReferenced([kept.block]), [true]);
  t.same(await h.q('getxattr', { ino: kept.ino, name: 'user.k' }), { ok: true, value: { value: Buffer.from('v') } }, 'and its xattr');
  const r = await h.q('readChunk', { ino: kept.ino, chunk: 0 });
  t.equal(r.ok && r.value.slices.length, 1);
});

t.test('grace: an inode retired twice before its reaping is deleted once', async (t) => {
  const h = await setup();
  const s = await h.session();
  const { ino } = await fileWithData(h, 'f');
  const before = h.sm.usage();
  await h.must('unlink', { parent: ROOT_INO, name: 'f', cred: ROOT }); // retired (first reap key)
  h.nowMs += 10;
  await h.must('release', { session: s, opens: [ino] }); // a late read-open registration
  h.nowMs += 10;
  await h.must('release', { session: s, ino }); // its close retires it again (second reap key)
  h.nowMs += 1;
  t.same(await h.reap(), { ok: true, value: { reaped: 1, more: false } });
  t.same(h.sm.usage(), { inodes: before.inodes - 1, bytes: before.bytes - 10 }, 'counted once');
  t.equal(await h.sm.orphansDue(h.nowMs + 1), false, 'both keys consumed');
});

t.test('grace: inoRuns groups consecutive inode numbers', async (t) => {
  t.same(inoRuns([]), []);
  t.same(inoRuns([7, 3, 4, 5, 9, 8, 4, 12]), [[3, 5], [7, 9], [12, 12]]);
});
