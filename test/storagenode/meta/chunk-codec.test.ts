import t from 'tap';
import type { Slice } from '../../../shared/types.js';
import { packChunk, unpackChunk } from '../../../storagenode/meta/chunk-codec.js';
import { K } from '../../../storagenode/meta/keys.js';
import { MemKv } from '../../../storagenode/meta/mem-kv.js';
import { pack } from '../../../storagenode/meta/records.js';
import { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';
import { rng } from '../../helpers/rng.js';
import { Harness, ROOT } from './harness.js';

function randomList(seed: number): Slice[] {
  const r = rng(seed);
  const ids = Array.from({ length: 1 + Math.floor(r() * 300) }, (_, i) => `0193${seed.toString(16).padStart(7, '0')}-${i.toString(16).padStart(16, '0')}`);
  return Array.from({ length: Math.floor(r() * 4096) }, () => ({
    pos: Math.floor(r() * 64 * 2 ** 20), len: 1 + Math.floor(r() * 4 * 2 ** 20), block: ids[Math.floor(r() * ids.length)]!, off: Math.floor(r() * 4 * 2 ** 20),
  }));
}

t.test('lists round-trip through the binary form, byte for byte the same on every encode', async (t) => {
  t.same(unpackChunk(packChunk([])), [], 'an empty list');
  for (let seed = 1; seed <= 40; seed++) {
    const list = randomList(seed);
    const bytes = packChunk(list);
    t.equal(bytes[0], 0xc1, `seed ${seed}: binary form`);
    t.same(unpackChunk(bytes), list, `seed ${seed}: ${list.length} slices back as they went in`);
    t.ok(packChunk(list).equals(bytes), `seed ${seed}: replicas encoding the same list store the same bytes`);
  }
  const full = Array.from({ length: 3000 }, (_, i) => ({ pos: i * 4096, len: 4096, block: `0193a${String(i % 200).padStart(6, '0')}-${'ab12cd34ef56ab78'.repeat(2)}`, off: (i % 256) * 4096 }));
  t.ok(packChunk(full).length * 4 < pack(full).length, `3000 slices of 200 blocks: ${packChunk(full).length} bytes against ${pack(full).length} as msgpack`);
});

t.test('records stored as msgpack by older builds still read', async (t) => {
  for (const seed of [3, 4, 5]) {
    const list = randomList(seed);
    t.same(unpackChunk(pack(list)), list, `seed ${seed}`);
  }
  t.same(unpackChunk(pack([])), []);
});

t.test('what the binary form cannot hold is stored as msgpack, and reads back', async (t) => {
  const ok: Slice = { pos: 0, len: 1, block: '0193a000001-0000000000000001', off: 0 };
  for (const [what, s] of [
    ['an offset past 32 bits', { ...ok, off: 2 ** 33 }],
    ['a fractional length', { ...ok, len: 1.5 }],
    ['a negative position', { ...ok, pos: -1 }],
    ['a block id beyond latin1', { ...ok, block: 'ÿ€' }],
    ['a block id over 255 bytes', { ...ok, block: 'a'.repeat(256) }],
  ] as [string, Slice][]) {
    const bytes = packChunk([ok, s]);
    t.not(bytes[0], 0xc1, what);
    t.same(unpackChunk(bytes), [ok, s], `${what}: read back`);
  }
});

t.test('a damaged binary record fails to decode instead of reading wrong', async (t) => {
  const bytes = packChunk(randomList(7).slice(0, 100));
  t.throws(() => unpackChunk(bytes.subarray(0, bytes.length - 1)), /bytes for 100 slices/, 'cut short');
  t.throws(() => unpackChunk(Buffer.concat([bytes, Buffer.alloc(1)])), /bytes for 100 slices/, 'a byte too many');
  const badVersion = Buffer.from(bytes);
  badVersion[1] = 9;
  t.throws(() => unpackChunk(badVersion), /unknown layout/);
  const badIndex = Buffer.from(bytes);
  badIndex.writeUInt16LE(0xffff, badIndex.length - 2);
  t.throws(() => unpackChunk(badIndex), /past the table/);
  t.throws(() => unpackChunk(Buffer.from([0xc1])), /unknown layout/);
});

t.test('a chunk stored as msgpack is read, appended to and rewritten in the binary form', async (t) => {
  const kv = new MemKv();
  const h = new Harness(await MetaStateMachine.over(kv));
  const f = await h.create(1, 'f');
  const old = [{ pos: 0, len: 100, block: h.block(), off: 0 }];
  await h.must('commitWrite', { ino: f.ino, slices: old.map((s) => ({ chunk: 0, ...s })), cred: ROOT });
  // As an older build left it: the same slices, as a msgpack array.
  await kv.write([{ type: 'put', key: K.chunk(f.ino, 0), value: pack(old) }]);
  const h2 = new Harness(await MetaStateMachine.over(kv));
  h2.index = h.index;
  h2.nowMs = h.nowMs;
  t.same((await h2.q('readChunk', { ino: f.ino, chunk: 0 })), { ok: true, value: { slices: old, size: 100, version: 1 } }, 'read as it was stored');
  const add = { pos: 50, len: 10, block: h.block(), off: 5 }; // h's counter: a block id h has not used
  await h2.must('commitWrite', { ino: f.ino, slices: [{ chunk: 0, ...add }], cred: ROOT });
  const stored = (await kv.get(K.chunk(f.ino, 0)))!;
  t.equal(stored[0], 0xc1, 'rewritten in the binary form');
  t.same(unpackChunk(stored), [...old, add]);
  t.same((await h2.q('readChunk', { ino: f.ino, chunk: 0 })), { ok: true, value: { slices: [...old, add], size: 100, version: 2 } });
  await h2.must('setattr', { ino: f.ino, size: 55, cred: ROOT });
  t.same(unpackChunk((await kv.get(K.chunk(f.ino, 0)))!), [{ ...old[0]!, len: 55 }, { ...add, len: 5 }], 'a truncate trims the binary record');
  await h2.must('unlink', { parent: 1, name: 'f', cred: ROOT });
  t.equal(await kv.get(K.chunk(f.ino, 0)), undefined, 'deleting the file drops the record and its references');
  t.same(await h2.sm.blocksReferenced([old[0]!.block, add.block]), [false, false]);
});
