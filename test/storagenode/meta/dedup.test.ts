import t from 'tap';
import { DEDUP_WINDOW } from '../../../storagenode/meta/apply.js';
import { RETIRED_REPLIES_MS } from '../../../storagenode/meta/ops/sessions.js';
import { Harness, ROOT } from './harness.js';

t.test('a retried (session, seq) gets the recorded reply and is not applied twice', async (t) => {
  const h = await Harness.create();
  const session = await h.session();
  const first = await h.run('mkdir', { parent: 1, name: 'd', mode: 0o755, cred: ROOT, session, seq: 1 });
  t.equal(first.ok, true);
  const again = await h.run('mkdir', { parent: 1, name: 'd', mode: 0o755, cred: ROOT, session, seq: 1 });
  t.same(again, first, 'not EEXIST: the first reply');
  t.equal((await h.attr(1)).nlink, 3);
});

t.test('a recorded failure is replayed too, even if the op would now succeed', async (t) => {
  const h = await Harness.create();
  const session = await h.session();
  await h.create(1, 'f');
  const r1 = await h.run('unlink', { parent: 1, name: 'g', cred: ROOT, session, seq: 7 });
  t.same(r1, { ok: false, errno: 'ENOENT' });
  await h.create(1, 'g');
  t.same(await h.run('unlink', { parent: 1, name: 'g', cred: ROOT, session, seq: 7 }), r1);
  t.same(await h.names(1), ['f', 'g']);
});

t.test('the window keeps the last DEDUP_WINDOW replies per session and is dropped on close', async (t) => {
  const h = await Harness.create();
  const session = await h.session();
  for (let seq = 1; seq <= DEDUP_WINDOW + 10; seq++) {
    await h.must('setattr', { ino: 1, mode: 0o755, cred: ROOT, session, seq });
  }
  const kv = (h.sm as unknown as { kv: { range(r: object): AsyncIterable<[Buffer, Buffer]> } }).kv;
  const count = async () => {
    let n = 0;
    for await (const [k] of kv.range({ gte: Buffer.from('q/'), lt: Buffer.from('q0') })) n += k.length > 0 ? 1 : 0;
    return n;
  };
  t.equal(await count(), DEDUP_WINDOW);
  await h.must('sessionClose', { session });
  t.equal(await count(), 0);
});

t.test('different sessions with the same seq are independent', async (t) => {
  const h = await Harness.create();
  const s1 = await h.session();
  const s2 = await h.session();
  t.equal((await h.run('mkdir', { parent: 1, name: 'a', mode: 0o755, cred: ROOT, session: s1, seq: 1 })).ok, true);
  t.equal((await h.run('mkdir', { parent: 1, name: 'b', mode: 0o755, cred: ROOT, session: s2, seq: 1 })).ok, true);
  t.same(await h.names(1), ['a', 'b']);
});

t.test('a late, lower seq is trimmed with the window like any other (the skipped scan never keeps stale replies)', async (t) => {
  const h = await Harness.create();
  const session = await h.session();
  const kv = (h.sm as unknown as { kv: { range(r: object): AsyncIterable<[Buffer, Buffer]> } }).kv;
  const seqs = async () => {
    const out: number[] = [];
    for await (const [k] of kv.range({ gte: Buffer.from('q/'), lt: Buffer.from('q0') })) out.push(parseInt(k.toString().slice(-16), 16));
    return out;
  };
  for (let seq = 100; seq < 110; seq++) await h.must('setattr', { ino: 1, mode: 0o755, cred: ROOT, session, seq });
  await h.must('setattr', { ino: 1, mode: 0o755, cred: ROOT, session, seq: 5 }); // arrives late
  t.equal((await seqs())[0], 5);
  await h.must('setattr', { ino: 1, mode: 0o755, cred: ROOT, session, seq: 5 + DEDUP_WINDOW });
  t.equal((await seqs())[0], 100, 'seq 5 left the window');
  await h.must('setattr', { ino: 1, mode: 0o755, cred: ROOT, session, seq: 100 + DEDUP_WINDOW });
  t.equal((await seqs())[0], 101);
});

t.test('a retry after the session expired gets the recorded reply, not ESTALE, for RETIRED_REPLIES_MS', async (t) => {
  const h = await Harness.create();
  const session = await h.session();
  const first = await h.run('mkdir', { parent: 1, name: 'd', mode: 0o755, cred: ROOT, session, seq: 1 });
  t.equal(first.ok, true);
  h.nowMs += 3_600_000; // far past the lease
  t.same(await h.must('expireSessions', {}), { expired: [session] });
  t.same(await h.run('mkdir', { parent: 1, name: 'd', mode: 0o755, cred: ROOT, session, seq: 1 }), first, 'the first reply, so the client does not resend it under a new session');
  t.same(await h.run('mkdir', { parent: 1, name: 'e', mode: 0o755, cred: ROOT, session, seq: 2 }), { ok: false, errno: 'ESTALE' }, 'a new request of the expired session is refused');
  h.nowMs += RETIRED_REPLIES_MS + 1;
  await h.must('expireSessions', {});
  t.same(await h.run('mkdir', { parent: 1, name: 'd', mode: 0o755, cred: ROOT, session, seq: 1 }), { ok: false, errno: 'ESTALE' }, 'forgotten after the retention');
  t.same(await h.names(1), ['d']);
});
