import t from 'tap';
import { FRAME_BYTES_MAX } from '../../../shared/limits.js';
import { encodeFrame } from '../../../shared/wire/codec.js';
import { HELLO, RawConn, rng, stubServer } from './harness.js';

const FUZZ_SEED = Number(process.env.TIDEFS_FUZZ_SEED ?? 20260101);
const FUZZ_FRAMES = Number(process.env.TIDEFS_FUZZ_FRAMES ?? 600);

/** After each hostile act, a well-behaved client must still get answers. */
async function stillServes(url: string): Promise<void> {
  const c = await RawConn.shaken(url);
  c.sendFrame({ id: 2, op: 'getattr', args: { ino: 1 } });
  const r = await c.reply(2);
  c.close();
  if (!('ok' in r) || !r.ok) throw new Error(`well-behaved request failed: ${JSON.stringify(r)}`);
}

/** Each case ends in an error reply or a closed connection; never silence, never a crash. */
async function replyOrClose(c: RawConn, id = 0, timeoutMs = 3000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const f = c.frames.find((x) => 'id' in x && x.id === id && 'ok' in x);
    if (f && 'ok' in f && !f.ok) return `reply ${f.code}`;
    if (f) return 'reply ok';
    if (c.closeCode !== null) return `closed ${c.closeCode}`;
    await new Promise((r) => setTimeout(r, 2));
  }
  return 'silence';
}

t.test('rpc server: hostile input', async (t) => {
  const s = await stubServer();
  t.teardown(() => s.server.close());

  t.test('malformed msgpack gets a PROTOCOL reply and a close', async (t) => {
    const c = await RawConn.shaken(s.url);
    c.sendRaw(Buffer.from([0xc1, 0xff, 0x00]));
    t.match(await replyOrClose(c), /reply PROTOCOL|closed/);
    await c.closed;
    await stillServes(s.url);
  });

  t.test('a truncated frame gets a PROTOCOL reply and a close', async (t) => {
    const c = await RawConn.shaken(s.url);
    const full = encodeFrame({ id: 3, op: 'getattr', args: { ino: 1 } });
    c.sendRaw(full.subarray(0, full.length - 3));
    t.match(await replyOrClose(c), /reply PROTOCOL|closed/);
    await stillServes(s.url);
  });

  t.test('an oversized frame closes the connection (1009) before it is decoded', async (t) => {
    const c = await RawConn.shaken(s.url);
    c.sendRaw(Buffer.alloc(FRAME_BYTES_MAX + 1));
    t.equal(await c.closed, 1009);
    await stillServes(s.url);
  });

  t.test('a text frame gets a PROTOCOL reply and a close', async (t) => {
    const c = await RawConn.shaken(s.url);
    c.sendRaw('{"id":1,"op":"getattr"}', false);
    t.match(await replyOrClose(c), /reply PROTOCOL|closed/);
    t.equal(await c.closed, 1003);
    await stillServes(s.url);
  });

  t.test('an unknown op gets a PROTOCOL reply naming it, and the connection stays', async (t) => {
    const c = await RawConn.shaken(s.url);
    c.sendFrame({ id: 4, op: 'formatDisk', args: {} });
    t.match(await c.reply(4), { ok: false, code: 'PROTOCOL', message: /unknown op formatDisk/ });
    c.sendFrame({ id: 5, op: 'getattr', args: { ino: 1 } });
    t.match(await c.reply(5), { ok: true });
    c.close();
  });

  t.test('wrong argument types get a PROTOCOL reply naming the field', async (t) => {
    const c = await RawConn.shaken(s.url);
    c.sendFrame({ id: 6, op: 'lookup', args: { parent: '1', name: 'a' } });
    t.match(await c.reply(6), { ok: false, code: 'PROTOCOL', message: /lookup: args\.parent: expected an integer/ });
    c.sendFrame({ id: 7, op: 'mkdir', args: { parent: 1, name: 'a', mode: 0o755, cred: { uid: 0, gid: 0, groups: 'x' } } });
    t.match(await c.reply(7), { ok: false, code: 'PROTOCOL', message: /args\.cred\.groups/ });
    c.sendFrame({ id: 8, op: 'getattr', args: { ino: 1, evil: true } });
    t.match(await c.reply(8), { ok: false, code: 'PROTOCOL', message: /args\.evil: unknown field/ });
    c.sendFrame({ id: 9, op: 'getattr', args: null });
    t.match(await c.reply(9), { ok: false, code: 'PROTOCOL' });
    c.sendFrame({ id: 10, op: 'x'.repeat(65), args: {} });
    t.match(await c.reply(10), { ok: false, code: 'PROTOCOL' });
    c.close();
  });

  t.test('non-request frames (replies, pushes, arrays, scalars) get a reply or a close', async (t) => {
    for (const f of [{ id: 1, ok: true, result: 1 }, { push: 'x', data: 1 }, [1, 2, 3], 42, 'str', null, { id: -4, op: 'getattr' }]) {
      const c = await RawConn.shaken(s.url);
      c.sendFrame(f);
      t.match(await replyOrClose(c), /reply PROTOCOL|closed/, JSON.stringify(f));
      c.close();
    }
    await stillServes(s.url);
  });

  t.test('garbage before the handshake closes the connection', async (t) => {
    const c = await RawConn.open(s.url);
    c.sendRaw(Buffer.from('not msgpack at all'));
    t.match(await replyOrClose(c), /reply PROTOCOL|reply UNAUTHORIZED|closed/);
    await stillServes(s.url);
  });

  t.test(`fuzz: random and mutated frames (seed ${FUZZ_SEED}, ${FUZZ_FRAMES} frames)`, async (t) => {
    t.comment(`SEED=${FUZZ_SEED} (replay with TIDEFS_FUZZ_SEED=${FUZZ_SEED})`);
    const rand = rng(FUZZ_SEED);
    const valid = [
      encodeFrame({ id: 2, op: 'getattr', args: { ino: 1 } }),
      encodeFrame({ id: 3, op: 'mkdir', args: { parent: 1, name: 'd', mode: 0o755, cred: { uid: 0, gid: 0, groups: [] } } }),
      encodeFrame({ id: 4, op: 'blockPut', args: { id: '0000000000a-0123456789abcdef', data: Buffer.alloc(64, 7) } }),
      encodeFrame({ id: 0, op: 'raft', args: { msg: { type: 'append', term: 1 } } }),
      encodeFrame({ id: 1, op: 'hello', args: HELLO }),
    ];
    let c = await RawConn.shaken(s.url);
    let reconnects = 0;
    for (let i = 0; i < FUZZ_FRAMES; i++) {
      if (c.closeCode !== null) {
        c = await RawConn.shaken(s.url);
        reconnects++;
      }
      c.sendRaw(mutate(valid[Math.floor(rand() * valid.length)]!, rand));
      // A probe after each frame makes the server finish with it before the next one is chosen.
      const probe = 1_000_000 + i;
      c.sendFrame({ id: probe, op: 'getattr', args: { ino: 1 } });
      const out = await replyOrClose(c, probe);
      if (out === 'silence') t.fail(`frame ${i}: neither a reply nor a close`);
      if (i % 100 === 99) await stillServes(s.url);
    }
    c.close();
    await stillServes(s.url);
    t.comment(`${reconnects} connections were closed by the server during the fuzz run`);
    t.pass('server survived and still serves');
  });
});

function mutate(frame: Buffer, rand: () => number): Buffer {
  const kind = Math.floor(rand() * 5);
  if (kind === 0) return Buffer.from(Array.from({ length: Math.floor(rand() * 64) + 1 }, () => Math.floor(rand() * 256)));
  const b = Buffer.from(frame);
  if (kind === 1) {
    for (let n = 1 + Math.floor(rand() * 4); n > 0; n--) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    return b;
  }
  if (kind === 2) return b.subarray(0, Math.floor(rand() * b.length));
  if (kind === 3) return Buffer.concat([b, Buffer.from([Math.floor(rand() * 256), Math.floor(rand() * 256)])]);
  return b; // a valid frame now and then keeps the connection in states past the handshake
}
