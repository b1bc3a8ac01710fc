import t from 'tap';
import { S_ISGID, S_ISUID } from '../../../shared/types.js';
import { ALICE, BOB, Harness, ROOT } from './harness.js';

const CAROL = { uid: 1002, gid: 1002, groups: [3000] };

async function aliceFile(h: Harness, mode = 0o644) {
  const pub = await h.mkdir(1, 'pub', ROOT, 0o777);
  return h.create(pub.ino, 'f', ALICE, mode);
}

t.test('chmod by the owner or root changes mode and ctime; others get EPERM', async (t) => {
  const h = await Harness.create();
  const f = await aliceFile(h);
  h.nowMs += 1000;
  t.match(await h.must('setattr', { ino: f.ino, mode: 0o600, cred: ALICE }), { mode: 0o100600, ctime: h.now() });
  t.equal(await h.errno('setattr', { ino: f.ino, mode: 0o666, cred: BOB }), 'EPERM');
  t.match(await h.must('setattr', { ino: f.ino, mode: 0o4755, cred: ROOT }), { mode: 0o104755 });
});

t.test('chmod by a non-root caller outside the file group clears setgid', async (t) => {
  const h = await Harness.create();
  const f = await aliceFile(h);
  await h.must('setattr', { ino: f.ino, gid: 50, cred: ROOT });
  t.equal((await h.must('setattr', { ino: f.ino, mode: 0o2755, cred: ALICE })).mode & S_ISGID, 0);
  t.equal((await h.must('setattr', { ino: f.ino, mode: 0o2755, cred: ROOT })).mode & S_ISGID, S_ISGID);
});

t.test('only root may change the owner', async (t) => {
  const h = await Harness.create();
  const f = await aliceFile(h);
  t.equal(await h.errno('setattr', { ino: f.ino, uid: 1001, cred: ALICE }), 'EPERM');
  t.equal(await h.errno('setattr', { ino: f.ino, uid: 1000, cred: ALICE }), 'OK'); // no-op chown is fine
  t.match(await h.must('setattr', { ino: f.ino, uid: 1001, cred: ROOT }), { uid: 1001 });
});

t.test('the owner may change the group only to one of its groups', async (t) => {
  const h = await Harness.create();
  const pub = await h.mkdir(1, 'pub', ROOT, 0o777);
  const f = await h.create(pub.ino, 'f', CAROL);
  t.match(await h.must('setattr', { ino: f.ino, gid: 3000, cred: CAROL }), { gid: 3000 });
  t.equal(await h.errno('setattr', { ino: f.ino, gid: 4000, cred: CAROL }), 'EPERM');
  t.equal(await h.errno('setattr', { ino: f.ino, gid: 1001, cred: BOB }), 'EPERM');
});

t.test('chown by a non-root owner clears setuid and setgid', async (t) => {
  const h = await Harness.create();
  const pub = await h.mkdir(1, 'pub', ROOT, 0o777);
  const f = await h.create(pub.ino, 'f', CAROL, 0o6755);
  t.equal(f.mode & (S_ISUID | S_ISGID), S_ISUID | S_ISGID);
  t.equal((await h.must('setattr', { ino: f.ino, gid: 3000, cred: CAROL })).mode & (S_ISUID | S_ISGID), 0);
  await h.must('setattr', { ino: f.ino, mode: 0o6755, cred: ROOT });
  t.equal((await h.must('setattr', { ino: f.ino, uid: 5, cred: ROOT })).mode & (S_ISUID | S_ISGID), S_ISUID | S_ISGID);
});

t.test('utimes to explicit times needs ownership; to now also write permission', async (t) => {
  const h = await Harness.create();
  const f = await aliceFile(h, 0o666);
  t.equal(await h.errno('setattr', { ino: f.ino, mtime: [5, 0], cred: BOB }), 'EPERM');
  h.nowMs += 2000;
  t.match(await h.must('setattr', { ino: f.ino, mtime: 'now', atime: 'now', cred: BOB }), { mtime: h.now(), atime: h.now() });
  t.match(await h.must('setattr', { ino: f.ino, mtime: [5, 6], atime: [7, 8], cred: ALICE }), { mtime: [5, 6], atime: [7, 8], ctime: h.now() });
  await h.must('setattr', { ino: f.ino, mode: 0o644, cred: ALICE });
  t.equal(await h.errno('setattr', { ino: f.ino, mtime: 'now', cred: BOB }), 'EACCES');
});

t.test('truncate needs write permission and a regular file', async (t) => {
  const h = await Harness.create();
  const f = await aliceFile(h, 0o644);
  const d = await h.mkdir(1, 'd');
  t.equal(await h.errno('setattr', { ino: f.ino, size: 0, cred: BOB }), 'EACCES');
  t.equal(await h.errno('setattr', { ino: d.ino, size: 0, cred: ROOT }), 'EISDIR');
  const s = await h.must('symlink', { parent: 1, name: 's', target: 't', cred: ROOT });
  t.equal(await h.errno('setattr', { ino: s.ino, size: 0, cred: ROOT }), 'EINVAL');
  h.nowMs += 1000;
  t.match(await h.must('setattr', { ino: f.ino, size: 1000, cred: ALICE }), { size: 1000, mtime: h.now(), ctime: h.now(), version: 1 });
  t.same(h.sm.usage(), { inodes: 5, bytes: 1000 });
});

t.test('setattr of a missing inode returns ENOENT', async (t) => {
  const h = await Harness.create();
  t.equal(await h.errno('setattr', { ino: 42, mode: 0o644, cred: ROOT }), 'ENOENT');
});
