import t from 'tap';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../../helpers/cluster.js';
import { mountFs } from '../../helpers/mount.js';
import { CHUNK_BYTES, SLICES_PER_CHUNK_MAX } from '../../../shared/limits.js';

const MIB = 1024 * 1024;
const WRITES = Number(process.env.TIDEFS_COMPACT_WRITES ?? 5000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('mount: compaction and st_blocks on one 3-node cluster', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  const m = await mountFs(t, cluster.urls);
  const admin = await cluster.client();
  t.teardown(() => admin.close());

  t.test(`${WRITES} random 4 KiB writes into an 8 MiB file: contents match, the chunk ends with few slices`, async (t) => {
    const f = join(m.dir, 'db');
    const ref = randomBytes(8 * MIB);
    const fd = openSync(f, 'w+');
    try {
      writeSync(fd, ref, 0, ref.length, 0);
      for (let i = 0; i < WRITES; i++) {
        const off = Math.floor(Math.random() * 2048) * 4096;
        const page = randomBytes(4096);
        page.copy(ref, off);
        writeSync(fd, page, 0, 4096, off);
        if (i % 500 === 499) fsyncSync(fd); // as a database checkpoints
      }
      fsyncSync(fd);
      const st = fstatSync(fd);
      t.equal(st.size, 8 * MIB);
      t.equal(st.blocks, 16384, 'a fully written file: size/512 blocks');
    } finally {
      closeSync(fd);
    }
    const ino = statSync(f).ino;
    // Background compaction of an 8 MiB chunk starts once it holds one slice per 16 KiB it would
    // rewrite (512), checked once this mount added as many slices as the last check found missing
    // (client/vfs/compact.ts), which one commit group (≤ 256 slices) may overshoot; without background
    // compaction it would climb to SLICES_PER_CHUNK_MAX and only EFBIG would cut it.
    const bound = 512 + 256;
    let slices = Infinity;
    for (let i = 0; i < 300 && slices >= bound; i++, await sleep(100)) slices = (await admin.call('readChunk', { ino, chunk: 0 })).slices.length;
    t.ok(slices < bound, `the chunk holds ${slices} slices (< ${bound}; without compaction: EFBIG after ${SLICES_PER_CHUNK_MAX})`);
    t.ok(readFileSync(f).equals(ref), 'reads back byte for byte through the writing mount');
    const other = await mountFs(t, cluster.urls, { strict: true });
    t.ok(readFileSync(join(other.dir, 'db')).equals(ref), 'and through a fresh mount (from the cluster)');
    await other.unmount();
  });

  t.test('a 64 MiB chunk takes over 1024 random 4 KiB writes before its first compaction, then compacts; contents match throughout', async (t) => {
    const f = join(m.dir, 'big');
    const ref = randomBytes(CHUNK_BYTES);
    const fd = openSync(f, 'w+');
    const readSlices = async () => (await admin.call('readChunk', { ino: statSync(f).ino, chunk: 0 })).slices.length;
    const writeRandom = (n: number) => {
      for (let i = 0; i < n; i++) {
        const off = Math.floor(Math.random() * (CHUNK_BYTES / 4096)) * 4096;
        const page = randomBytes(4096);
        page.copy(ref, off);
        writeSync(fd, page, 0, 4096, off);
        if (i % 500 === 499) fsyncSync(fd);
      }
      fsyncSync(fd);
    };
    try {
      writeSync(fd, ref, 0, ref.length, 0);
      fsyncSync(fd);
      // A whole-chunk compaction rewrites 64 MiB: it is worth it once per ~3840 slices (16 KiB each),
      // not per ~768 (80 KiB each) as with 1024 slices per chunk.
      writeRandom(2000);
      const held = await readSlices();
      t.ok(held > 1024 && held <= 2000 + 16, `${held} slices in the chunk, no compaction yet`);
      const other = await mountFs(t, cluster.urls, { strict: true });
      t.ok(readFileSync(join(other.dir, 'big')).equals(ref), 'a fresh mount reads it byte for byte (its reads resolve ~2000 slices)');
      writeRandom(2500);
      let slices = Infinity;
      for (let i = 0; i < 300 && slices >= 1024; i++, await sleep(100)) slices = await readSlices();
      t.ok(slices < 1024, `compacted in the background: ${slices} slices`);
      t.ok(readFileSync(join(other.dir, 'big')).equals(ref), 'and after the compaction, through the fresh mount');
      await other.unmount();
    } finally {
      closeSync(fd);
    }
    t.ok(readFileSync(f).equals(ref), 'and through the writing mount');
  });

  t.test('st_blocks counts written bytes: a sparse file is small, a full one size/512', async (t) => {
    const sparse = join(m.dir, 'sparse');
    const fd = openSync(sparse, 'w');
    writeSync(fd, Buffer.from('x'), 0, 1, 5 * 1024 * MIB);
    closeSync(fd);
    const s = statSync(sparse);
    t.equal(s.size, 5 * 1024 * MIB + 1);
    t.ok(s.blocks > 0 && s.blocks <= 8, `1 byte at 5 GiB: ${s.blocks} blocks`);
    const full = join(m.dir, 'full');
    const fd2 = openSync(full, 'w');
    writeSync(fd2, randomBytes(MIB), 0, MIB, 0);
    t.ok(fstatSync(fd2).blocks >= 2048, 'buffered bytes already count before the commit');
    closeSync(fd2);
    t.equal(statSync(full).blocks, 2048);
  });
});
