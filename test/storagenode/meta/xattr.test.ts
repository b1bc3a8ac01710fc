import t from 'tap';
import { XATTR_CREATE, XATTR_REPLACE } from '../../../shared/protocol/ops.js';
import { XATTR_VALUE_BYTES_MAX } from '../../../shared/limits.js';
import { ALICE, BOB, Harness, ROOT } from './harness.js';

const v = (s: string) => Buffer.from(s);

t.test('setxattr stores a value that getxattr returns and listxattr names, in order', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  await h.must('setxattr', { ino: f.ino, name: 'user.b', value: v('2'), flags: 0, cred: ROOT });
  await h.must('setxattr', { ino: f.ino, name: 'user.a', value: v('1'), flags: 0, cred: ROOT });
  const g = await h.q('getxattr', { ino: f.ino, name: 'user.a' });
  t.equal(g.ok && Buffer.from(g.value.value).toString(), '1');
  t.same(await h.q('listxattr', { ino: f.ino }), { ok: true, value: { names: ['user.a', 'user.b'] } });
  t.same(await h.q('getxattr', { ino: f.ino, name: 'user.zz' }), { ok: false, errno: 'ENODATA' });
});

t.test('XATTR_CREATE on an existing name returns EEXIST; XATTR_REPLACE on a missing one ENODATA', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  t.equal(await h.errno('setxattr', { ino: f.ino, name: 'user.a', value: v('1'), flags: XATTR_REPLACE, cred: ROOT }), 'ENODATA');
  t.equal(await h.errno('setxattr', { ino: f.ino, name: 'user.a', value: v('1'), flags: XATTR_CREATE, cred: ROOT }), 'OK');
  t.equal(await h.errno('setxattr', { ino: f.ino, name: 'user.a', value: v('2'), flags: XATTR_CREATE, cred: ROOT }), 'EEXIST');
  t.equal(await h.errno('setxattr', { ino: f.ino, name: 'user.a', value: v('3'), flags: XATTR_REPLACE, cred: ROOT }), 'OK');
  const g = await h.q('getxattr', { ino: f.ino, name: 'user.a' });
  t.equal(g.ok && Buffer.from(g.value.value).toString(), '3');
});

t.test('returns E2BIG for an oversized value and ERANGE for an oversized name', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  t.equal(await h.errno('setxattr', { ino: f.ino, name: 'user.a', value: Buffer.alloc(XATTR_VALUE_BYTES_MAX + 1), flags: 0, cred: ROOT }), 'E2BIG');
  t.equal(await h.errno('setxattr', { ino: f.ino, name: 'user.' + 'x'.repeat(251), value: v('1'), flags: 0, cred: ROOT }), 'ERANGE');
  t.equal(await h.errno('setxattr', { ino: f.ino, name: 'user.a', value: Buffer.alloc(XATTR_VALUE_BYTES_MAX), flags: 0, cred: ROOT }), 'OK');
});

t.test('removexattr deletes a name and returns ENODATA when it is missing', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  await h.must('setxattr', { ino: f.ino, name: 'user.a', value: v('1'), flags: 0, cred: ROOT });
  h.nowMs += 1000;
  await h.must('removexattr', { ino: f.ino, name: 'user.a', cred: ROOT });
  t.same((await h.attr(f.ino)).ctime, h.now());
  t.equal(await h.errno('removexattr', { ino: f.ino, name: 'user.a', cred: ROOT }), 'ENODATA');
  t.same(await h.q('listxattr', { ino: f.ino }), { ok: true, value: { names: [] } });
});

t.test('user xattrs need write permission; trusted ones need root', async (t) => {
  const h = await Harness.create();
  const pub = await h.mkdir(1, 'pub', ROOT, 0o777);
  const f = await h.create(pub.ino, 'f', ALICE, 0o644);
  t.equal(await h.errno('setxattr', { ino: f.ino, name: 'user.a', value: v('1'), flags: 0, cred: BOB }), 'EACCES');
  t.equal(await h.errno('setxattr', { ino: f.ino, name: 'user.a', value: v('1'), flags: 0, cred: ALICE }), 'OK');
  t.equal(await h.errno('setxattr', { ino: f.ino, name: 'trusted.a', value: v('1'), flags: 0, cred: ALICE }), 'EPERM');
});

t.test('xattrs go with the inode when it is deleted', async (t) => {
  const h = await Harness.create();
  const f = await h.create(1, 'f');
  await h.must('setxattr', { ino: f.ino, name: 'user.a', value: v('1'), flags: 0, cred: ROOT });
  await h.must('unlink', { parent: 1, name: 'f', cred: ROOT });
  t.same(await h.q('listxattr', { ino: f.ino }), { ok: false, errno: 'ENOENT' });
});
