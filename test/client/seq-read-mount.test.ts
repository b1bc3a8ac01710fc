import t from 'tap';
import { randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';

/**
 * End to end through two real mounts (perf-reads.md, 2026-12-04): sequential reads are served from
 * views of the block cache's fetches, whose bytes the nodes framed in place. A cold mount reads the
 * bytes another mount wrote; a write made on the reading handle shows in its reads and, after the
 * close, in the other mount, and never in the cached blocks.
 */
t.test('mount: cold sequential 1 MiB reads return the written bytes; writes on the reading handle show, cached blocks do not change (R=3)', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  const a = await mountFs(t, cluster.urls, { strict: true });
  const b = await mountFs(t, cluster.urls, { strict: true });
  const data = randomBytes((20 << 20) + 12_345); // five blocks and a partial one
  await fsp.writeFile(join(a.dir, 'seq'), data);

  const fh = await fsp.open(join(b.dir, 'seq'), 'r+');
  const want = Buffer.from(data);
  const readAll = async (step: number) => {
    const got = Buffer.alloc(data.length);
    for (let off = 0; off < data.length; off += step) {
      const { bytesRead } = await fh.read(got, off, Math.min(step, data.length - off), off);
      t.equal(bytesRead, Math.min(step, data.length - off));
    }
    return got;
  };
  t.ok((await readAll(1 << 20)).equals(want), 'cold sequential read: every byte');
  const patch = Buffer.alloc(70_000, 0x5a);
  await fh.write(patch, 0, patch.length, (9 << 20) - 1000); // across a block boundary
  patch.copy(want, (9 << 20) - 1000);
  t.ok((await readAll(1 << 20)).equals(want), 'the handle reads its own write');
  t.ok((await readAll(131_072 + 4096)).equals(want), 'and with reads that straddle units');
  await fh.close();

  const fresh = await fsp.open(join(b.dir, 'seq'), 'r');
  const again = Buffer.alloc(data.length);
  await fresh.read(again, 0, data.length, 0);
  await fresh.close();
  t.ok(again.equals(want), 'reopened on the same mount: the committed bytes');
  t.ok((await fsp.readFile(join(a.dir, 'seq'))).equals(want), 'the writing mount sees the write after the close');
  // A second file sharing no blocks, read on the same mount: the cached blocks of the first stay right.
  await fsp.writeFile(join(a.dir, 'other'), randomBytes(6 << 20));
  await fsp.readFile(join(b.dir, 'other'));
  t.ok((await fsp.readFile(join(b.dir, 'seq'))).equals(want), 'still right after other reads');
});

t.test('mount: tidefs gets 1 MiB FUSE writes and, with its kernel readahead at 1 MiB, 1 MiB reads', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  // --debug: one log line per FUSE request, with its size and offset.
  const a = await mountFs(t, cluster.urls, { args: ['--debug'] });
  const b = await mountFs(t, cluster.urls, { args: ['--debug'] });
  const data = randomBytes(4 << 20);
  const w = await fsp.open(join(a.dir, 'big'), 'w');
  await w.write(data, 0, data.length, 0); // one write(2): the kernel splits it into requests
  await w.close();
  t.ok((await fsp.readFile(join(b.dir, 'big'))).equals(data), 'the other mount reads the bytes');
  const sizes = (file: string, op: string) => readFileSync(file, 'utf8').split('\n')
    .map((l) => new RegExp(`DEBUG ${op} /big ok [0-9.]+ms (\\d+) at \\d+$`).exec(l)).filter((m) => m !== null).map((m) => Number(m![1]));
  t.same(sizes(a.logFile, 'write'), [1048576, 1048576, 1048576, 1048576], 'four 1 MiB write requests');
  const reads = sizes(b.logFile, 'read');
  t.equal(Math.max(...reads), 1048576, `reads of up to 1 MiB (${reads.length} requests)`);
  t.ok(reads.length <= 8, 'a handful of requests for 4 MiB, not 32 of 128 KiB');
  const real = await fsp.realpath(a.dir);
  const line = (await fsp.readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === real);
  t.ok(line, 'the mount is in mountinfo');
  const dev = line!.split(' ')[2];
  t.equal((await fsp.readFile(`/sys/class/bdi/${dev}/read_ahead_kb`, 'utf8')).trim(), '1024');
});
