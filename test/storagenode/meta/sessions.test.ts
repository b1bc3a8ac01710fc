import t from 'tap';
import { ALICE, Harness, ROOT } from './harness.js';

const O_RDONLY = 0, O_WRONLY = 1, O_TRUNC = 0o1000;

t.test('session ids come from the entry index, so every replica derives the same', async (t) => {
  const h = await Harness.create();
  const a = await h.must('sessionOpen', { client: 'c1', leaseMs: 20_000 });
  const b = await h.must('sessionOpen', { client: 'c2', leaseMs: 20_000 });
  t.same(a, { session: '000000000001', leaseMs: 20_000 });
  t.equal(b.session, '000000000002');
});

t.test('an unlinked file stays readable while open and is deleted at the last release', async (t) => {
  const h = await Harness.create();
  const s = await h.session();
  const f = await h.create(1, 'f');
  const b = h.block();
  await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 5, block: b, off: 0 }], cred: ROOT });
  await h.must('open', { ino: f.ino, flags: O_RDONLY, cred: ROOT, session: s });
  await h.must('open', { ino: f.ino, flags: O_RDONLY, cred: ROOT, session: s });
  t.same(await h.must('unlink', { parent: 1, name: 'f', cred: ROOT }), { ino: f.ino, nlink: 0, parentAttr: await h.attr(1) });
  t.match(await h.attr(f.ino), { nlink: 0, size: 5 });
  t.equal((await h.q('readChunk', { ino: f.ino, chunk: 0 })).ok, true);
  await h.must('release', { ino: f.ino, session: s });
  t.equal((await h.q('getattr', { ino: f.ino })).ok, true, 'still open once');
  await h.must('release', { ino: f.ino, session: s });
  t.same(await h.q('getattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' });
  t.same(await h.sm.blocksReferenced([b]), [false]);
});

t.test('closing a session releases its opens and deletes its orphans', async (t) => {
  const h = await Harness.create();
  const s = await h.session();
  const f = await h.create(1, 'f');
  await h.must('open', { ino: f.ino, flags: O_RDONLY, cred: ROOT, session: s });
  await h.must('unlink', { parent: 1, name: 'f', cred: ROOT });
  await h.must('sessionClose', { session: s });
  t.same(await h.q('getattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' });
  t.equal(await h.errno('open', { ino: 1, flags: O_RDONLY, cred: ROOT, session: s }), 'ESTALE');
});

t.test('expireSessions drops sessions whose lease lapsed, with their opens and orphans', async (t) => {
  const h = await Harness.create();
  const s1 = await h.session();
  h.nowMs += 15_000;
  const s2 = await h.session();
  const f = await h.create(1, 'f');
  await h.must('open', { ino: f.ino, flags: O_RDONLY, cred: ROOT, session: s1 });
  await h.must('unlink', { parent: 1, name: 'f', cred: ROOT });
  h.nowMs += 10_000; // s1 lapsed at +20 s, s2 lives until +35 s
  t.equal(await h.errno('open', { ino: 1, flags: O_RDONLY, cred: ROOT, session: s1 }), 'ESTALE', 'a lapsed lease is refused before expiry runs');
  t.same(await h.must('expireSessions', {}), { expired: [s1] });
  t.same(await h.q('getattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' });
  t.equal(await h.errno('sessionRenew', { session: s2 }), 'OK');
  h.nowMs += 19_000;
  t.same(await h.must('expireSessions', {}), { expired: [] }, 'renewal moved the lease');
});

t.test('renewing a lapsed session returns ESTALE', async (t) => {
  const h = await Harness.create();
  const s = await h.session();
  h.nowMs += 20_001;
  t.equal(await h.errno('sessionRenew', { session: s }), 'ESTALE');
});

t.test('a namespace change carrying a lapsed session is refused', async (t) => {
  const h = await Harness.create();
  const s = await h.session();
  h.nowMs += 30_000;
  t.equal(await h.errno('mkdir', { parent: 1, name: 'd', mode: 0o755, cred: ROOT, session: s, seq: 1 }), 'ESTALE');
});

t.test('open checks permission by access mode and O_TRUNC truncates', async (t) => {
  const h = await Harness.create();
  const s = await h.session();
  const f = await h.create(1, 'f', ROOT, 0o644);
  await h.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, pos: 0, len: 5, block: h.block(), off: 0 }], cred: ROOT });
  t.equal(await h.errno('open', { ino: f.ino, flags: O_WRONLY, cred: ALICE, session: s }), 'EACCES');
  t.equal(await h.errno('open', { ino: f.ino, flags: O_RDONLY, cred: ALICE, session: s }), 'OK');
  t.equal(await h.errno('open', { ino: 1, flags: O_WRONLY, cred: ROOT, session: s }), 'EISDIR');
  t.match(await h.must('open', { ino: f.ino, flags: O_WRONLY | O_TRUNC, cred: ROOT, session: s }), { size: 0 });
  t.equal(await h.errno('open', { ino: 99, flags: O_RDONLY, cred: ROOT, session: s }), 'ENOENT');
});

t.test('replacing an open file by rename keeps it as an orphan until release', async (t) => {
  const h = await Harness.create();
  const s = await h.session();
  const victim = await h.create(1, 'v');
  await h.create(1, 'n');
  await h.must('open', { ino: victim.ino, flags: O_RDONLY, cred: ROOT, session: s });
  await h.must('rename', { parent: 1, name: 'n', newParent: 1, newName: 'v', flags: 0, cred: ROOT });
  t.equal((await h.attr(victim.ino)).nlink, 0);
  await h.must('release', { ino: victim.ino, session: s });
  t.same(await h.q('getattr', { ino: victim.ino }), { ok: false, errno: 'ENOENT' });
});

t.test('mknod with open registers the creator in the same entry: an unlink elsewhere leaves an orphan', async (t) => {
  const h = await Harness.create();
  const s = await h.session();
  await h.must('setattr', { ino: 1, mode: 0o777, cred: ROOT });
  const f = await h.must('mknod', { parent: 1, name: 'f', mode: 0o100000, rdev: 0, cred: ALICE, session: s, open: true });
  t.same(f.parentAttr, await h.attr(1));
  await h.must('unlink', { parent: 1, name: 'f', cred: ROOT });
  t.match(await h.attr(f.ino), { nlink: 0 }, 'kept while open');
  await h.must('release', { ino: f.ino, session: s });
  t.same(await h.q('getattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' });
  t.equal(await h.errno('mknod', { parent: 1, name: 'g', mode: 0o100000, rdev: 0, cred: ROOT, open: true }), 'EINVAL', 'open needs a session');
  t.equal(await h.errno('mknod', { parent: 1, name: 'p', mode: 0o010644, rdev: 0, cred: ROOT, session: s, open: true }), 'EINVAL', 'only files are opened');
});

t.test('releases carried by another op apply with it, and not when it fails', async (t) => {
  const h = await Harness.create();
  const s = await h.session();
  const f = await h.must('mknod', { parent: 1, name: 'f', mode: 0o100000, rdev: 0, cred: ROOT, session: s, open: true });
  const g = await h.must('mknod', { parent: 1, name: 'g', mode: 0o100000, rdev: 0, cred: ROOT, session: s, open: true });
  await h.must('open', { ino: g.ino, flags: O_RDONLY, cred: ROOT, session: s });
  await h.must('unlink', { parent: 1, name: 'f', cred: ROOT });
  await h.must('unlink', { parent: 1, name: 'g', cred: ROOT });
  // A failed op rolls its releases back with it.
  t.equal(await h.errno('mknod', { parent: 1, name: 'f', mode: 0o100000, rdev: 0, cred: ALICE, session: s, releases: [f.ino] }), 'EACCES');
  t.match(await h.attr(f.ino), { nlink: 0 }, 'still open');
  await h.must('mkdir', { parent: 1, name: 'd', mode: 0o755, cred: ROOT, session: s, releases: [f.ino, g.ino] });
  t.same(await h.q('getattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' }, 'last close of an orphan deletes it');
  t.match(await h.attr(g.ino), { nlink: 0 }, 'one of two opens released');
  await h.must('release', { ino: g.ino, session: s, releases: [] });
  t.same(await h.q('getattr', { ino: g.ino }), { ok: false, errno: 'ENOENT' });
  t.equal(await h.errno('setattr', { ino: 1, mode: 0o755, cred: ROOT, releases: [1] }), 'EINVAL', 'releases need a session');
});

t.test('open by parent and name resolves, checks and registers in one entry', async (t) => {
  const h = await Harness.create();
  const s = await h.session();
  await h.must('setattr', { ino: 1, mode: 0o777, cred: ROOT });
  const f = await h.create(1, 'f', ALICE, 0o600);
  const o = await h.must('open', { parent: 1, name: 'f', flags: O_WRONLY, cred: ALICE, session: s });
  t.equal(o.ino, f.ino);
  t.equal(await h.errno('open', { parent: 1, name: 'f', flags: O_RDONLY, cred: { uid: 2000, gid: 2000, groups: [] }, session: s }), 'EACCES');
  t.equal(await h.errno('open', { parent: 1, name: 'nope', flags: O_RDONLY, cred: ROOT, session: s }), 'ENOENT');
  t.equal(await h.errno('open', { parent: f.ino, name: 'x', flags: O_RDONLY, cred: ROOT, session: s }), 'ENOTDIR');
  t.equal(await h.errno('open', { parent: 1, flags: O_RDONLY, cred: ROOT, session: s }), 'EINVAL');
  t.equal(await h.errno('open', { flags: O_RDONLY, cred: ROOT, session: s }), 'EINVAL');
  await h.must('unlink', { parent: 1, name: 'f', cred: ROOT });
  t.match(await h.attr(f.ino), { nlink: 0 }, 'the open by name counts');
  await h.must('release', { ino: f.ino, session: s });
  t.same(await h.q('getattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' });
});
