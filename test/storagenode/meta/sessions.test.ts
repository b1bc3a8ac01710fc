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
  t.same(await h.must('unlink', { parent: 1, name: 'f', cred: ROOT }), { ino: f.ino, nlink: 0 });
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
