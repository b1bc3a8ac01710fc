import t from 'tap';
import { RENAME_EXCHANGE } from '../../../shared/protocol/ops.js';
import type { EntryChanges } from '../../../storagenode/meta/index.js';
import { Harness, ROOT, ROOT_INO, BOB } from './harness.js';

/** A harness whose state machine reports what each stored entry changed (MetaStateMachine.onChanges). */
async function watched(): Promise<{ h: Harness; take: () => EntryChanges[] }> {
  const h = await Harness.create();
  let seen: EntryChanges[] = [];
  h.sm.wantChanges = () => true;
  const run = h.run.bind(h);
  h.run = ((op: never, args: never) => {
    h.nowMs += 1; // each op at its own time, as on a cluster
    return run(op, args);
  }) as typeof h.run;
  h.sm.onChanges = (c) => seen.push(...c);
  return { h, take: () => { const s = seen; seen = []; return s; } };
}
const sorted = (c: EntryChanges[]) => ({
  inos: [...new Set(c.flatMap((x) => x.inos))].sort((a, b) => a - b),
  entries: c.flatMap((x) => x.entries).map(([d, n]) => `${d}/${n}`).sort(),
});

t.test('changes: each op reports the inodes and names it changed, from what it wrote', async (t) => {
  const { h, take } = await watched();
  const s = await h.session();
  take();
  const d = await h.must('mkdir', { parent: ROOT_INO, name: 'd', mode: 0o755, cred: ROOT, session: s, seq: 1 });
  t.same(take(), [{ session: s, inos: [ROOT_INO], entries: [] }], 'mkdir: the parent only (a new inode or name is not listed)');
  const a = await h.create(d.ino, 'a');
  const b = await h.create(d.ino, 'b');
  const sub = await h.mkdir(d.ino, 'sub');
  take();

  await h.must('setattr', { ino: a.ino, mode: 0o600, cred: ROOT });
  t.same(sorted(take()), { inos: [a.ino], entries: [] }, 'chmod: the target');
  await h.must('commitWrite', { ino: a.ino, slices: [{ chunk: 0, pos: 0, len: 10, block: h.block(), off: 0 }], cred: ROOT });
  t.same(sorted(take()), { inos: [a.ino], entries: [] }, 'commit: the file (size, mtime)');
  await h.must('open', { ino: a.ino, flags: 0, cred: ROOT, session: s });
  t.same(take(), [], 'an open that changes no attribute reports nothing');
  await h.must('link', { ino: a.ino, parent: d.ino, name: 'a2', cred: ROOT });
  t.same(sorted(take()), { inos: [d.ino, a.ino].sort((x, y) => x - y), entries: [] }, 'link: target and parent; the new name is not listed');
  await h.must('unlink', { parent: d.ino, name: 'a2', cred: ROOT });
  t.same(sorted(take()), { inos: [d.ino, a.ino].sort((x, y) => x - y), entries: [`${d.ino}/a2`] }, 'unlink: target, parent, the name');
  await h.must('rename', { parent: d.ino, name: 'a', newParent: d.ino, newName: 'b', flags: 0, cred: ROOT });
  t.same(sorted(take()), { inos: [d.ino, a.ino, b.ino].sort((x, y) => x - y), entries: [`${d.ino}/a`, `${d.ino}/b`] },
    'rename over a name: source, victim (deleted), parent; both names');
  const c = await h.create(ROOT_INO, 'c');
  take();
  await h.must('rename', { parent: d.ino, name: 'b', newParent: ROOT_INO, newName: 'c', flags: RENAME_EXCHANGE, cred: ROOT });
  t.same(sorted(take()), { inos: [ROOT_INO, d.ino, a.ino, c.ino].sort((x, y) => x - y), entries: [`${ROOT_INO}/c`, `${d.ino}/b`] },
    'exchange: both inodes, both parents, both names');
  await h.must('rmdir', { parent: d.ino, name: 'sub', cred: ROOT });
  t.same(sorted(take()), { inos: [d.ino, sub.ino].sort((x, y) => x - y), entries: [`${d.ino}/sub`] }, 'rmdir: parent, the directory, the name');
  await h.must('setxattr', { ino: c.ino, name: 'user.k', value: new Uint8Array([1]), flags: 0, cred: ROOT });
  t.same(sorted(take()), { inos: [c.ino], entries: [] }, 'setxattr: the inode (ctime)');
  await h.must('removexattr', { ino: c.ino, name: 'user.k', cred: ROOT });
  t.same(sorted(take()), { inos: [c.ino], entries: [] }, 'removexattr: the inode (ctime)');

  t.equal(await h.errno('unlink', { parent: d.ino, name: 'nope', cred: ROOT }), 'ENOENT');
  t.equal(await h.errno('setattr', { ino: c.ino, mode: 0o777, cred: BOB }), 'EPERM');
  t.equal(await h.errno('rmdir', { parent: ROOT_INO, name: 'd', cred: ROOT }), 'ENOTEMPTY');
  t.same(take(), [], 'failed ops report nothing');
});

t.test('changes: the session is the request\'s; node ops have none; nothing is worked out unless wanted', async (t) => {
  const { h, take } = await watched();
  const s = await h.session();
  await h.must('mknod', { parent: ROOT_INO, name: 'f', mode: 0o100644, rdev: 0, cred: ROOT, session: s, seq: 1, open: true });
  take();
  await h.must('unlink', { parent: ROOT_INO, name: 'f', cred: ROOT, session: s, seq: 2 });
  const u = take();
  t.equal(u.length, 1);
  t.equal(u[0]!.session, s, 'the originating session');
  h.nowMs += 60_000; // the lease lapses: expiry deletes the open orphan
  await h.must('expireSessions', {});
  const e = take();
  t.equal(e.length, 1, 'expiry deleted the orphan');
  t.equal(e[0]!.session, undefined, 'a node-proposed op has no session');

  h.sm.wantChanges = () => false;
  await h.create(ROOT_INO, 'g');
  t.same(take(), [], 'not wanted: not reported');
});

t.test('changes: a create in the same clock tick as the last one still names the directory', async (t) => {
  const h = await Harness.create();
  let seen: EntryChanges[] = [];
  h.sm.wantChanges = () => true;
  h.sm.onChanges = (c) => seen.push(...c);
  const d = await h.mkdir(ROOT_INO, 'd');
  await h.create(d.ino, 'x');
  seen = [];
  await h.create(d.ino, 'y'); // same nowMs: d's record is byte for byte what it was
  t.same(sorted(seen), { inos: [d.ino], entries: [] });
});
