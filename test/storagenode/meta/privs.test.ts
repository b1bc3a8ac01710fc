import t from 'tap';
import type { Cred } from '../../../shared/types.js';
import { ALICE, BOB, Harness, ROOT } from './harness.js';

const CAP = 'security.capability';
const O_WRONLY = 1, O_TRUNC = 0o1000;

async function fileWith(h: Harness, mode: number, name: string, gid = ALICE.gid): Promise<number> {
  const f = await h.create(1, name);
  await h.must('setattr', { ino: f.ino, mode, uid: ALICE.uid, gid, cred: ROOT });
  await h.must('setxattr', { ino: f.ino, name: CAP, value: new Uint8Array([1, 2, 3]), flags: 0, cred: ROOT });
  return f.ino;
}
const modeOf = async (h: Harness, ino: number) => ((await h.attr(ino)).mode & 0o7777).toString(8);
const hasCap = async (h: Harness, ino: number) => (await h.q('getxattr', { ino, name: CAP })).ok;

t.test('setattr killPriv takes setuid, setgid and capabilities, and needs no right of its own', async (t) => {
  const h = await Harness.create();
  const cases: [number, Cred, string][] = [
    [0o6777, BOB, '777'], // outside the group: both
    [0o6767, BOB, '767'], // outside the group, no group execute: setgid goes too (Linux 6.2+)
    [0o6767, { ...BOB, groups: [ALICE.gid] }, '2767'], // in the group, no group execute: setgid stays
    [0o6777, ALICE, '777'], // the owner: group execute set, both go
    [0o6767, ROOT, '2767'], // root (a chown): setgid without group execute stays
  ];
  for (const [i, [mode, cred, want]] of cases.entries()) {
    const ino = await fileWith(h, mode, `f${i}`);
    const before = (await h.attr(ino)).ctime;
    h.nowMs += 1000;
    await h.must('setattr', { ino, killPriv: true, cred });
    t.equal(await modeOf(h, ino), want, `${mode.toString(8)} by uid ${cred.uid}`);
    t.equal(await hasCap(h, ino), false, 'capabilities gone');
    t.not((await h.attr(ino)).ctime, before, 'ctime moved');
  }
  const d = await h.mkdir(1, 'd', ROOT, 0o6777);
  await h.must('setattr', { ino: d.ino, killPriv: true, cred: BOB });
  t.equal(await modeOf(h, d.ino), '6777', 'a directory keeps its bits');
});

t.test('a commit takes capabilities whoever writes, setuid/setgid only from an unprivileged writer', async (t) => {
  const h = await Harness.create();
  const a = await fileWith(h, 0o6777, 'a');
  await h.must('commitWrite', { ino: a, slices: [{ chunk: 0, pos: 0, len: 1, block: h.block(), off: 0 }], cred: ROOT });
  t.equal(await modeOf(h, a), '6777', 'root keeps setuid/setgid');
  t.equal(await hasCap(h, a), false, 'but not the capabilities');
  const b = await fileWith(h, 0o6767, 'b', BOB.gid);
  await h.must('commitWrite', { ino: b, slices: [{ chunk: 0, pos: 0, len: 1, block: h.block(), off: 0 }], cred: BOB });
  t.equal(await modeOf(h, b), '2767', 'a writer in the group keeps setgid without group execute');
  const c = await fileWith(h, 0o6777, 'c');
  await h.must('commitWrite', { ino: c, slices: [{ chunk: 0, pos: 0, len: 1, block: h.block(), off: 0 }], cred: BOB });
  t.equal(await modeOf(h, c), '777');
});

t.test('an open with O_TRUNC by an unprivileged caller takes the privileges; root\'s does not', async (t) => {
  const h = await Harness.create();
  const s = await h.session();
  const a = await fileWith(h, 0o6777, 'a');
  await h.must('open', { ino: a, flags: O_WRONLY | O_TRUNC, cred: BOB, session: s });
  t.equal(await modeOf(h, a), '777');
  t.equal(await hasCap(h, a), false);
  const b = await fileWith(h, 0o6777, 'b');
  await h.must('open', { ino: b, flags: O_WRONLY | O_TRUNC, cred: ROOT, session: s });
  t.equal(await modeOf(h, b), '6777');
  await h.must('open', { ino: b, flags: O_WRONLY, cred: BOB, session: s });
  t.equal(await modeOf(h, b), '6777', 'an open without O_TRUNC takes nothing');
});
