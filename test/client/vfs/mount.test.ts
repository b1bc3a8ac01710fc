import t from 'tap';
import { randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync, writeFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../../helpers/cluster.js';
import { mountFs } from '../../helpers/mount.js';

/** End to end: a real 3-node cluster, the real client process, the kernel's FUSE in between. */
t.test('mount: create, write, read back, close, reopen (R=3)', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  const m = await mountFs(t, cluster.urls);
  const f = join(m.dir, 'hello.txt');
  writeFileSync(f, 'hello tidefs\n');
  t.equal(readFileSync(f, 'utf8'), 'hello tidefs\n');
  t.equal(statSync(f).size, 13);
  const fh = await fsp.open(join(m.dir, 'rw'), 'w+');
  await fh.write('abcdef', 0);
  const buf = Buffer.alloc(6);
  await fh.read(buf, 0, 6, 0);
  t.equal(buf.toString(), 'abcdef', 'read after write through one handle');
  await fh.close();
  await fsp.mkdir(join(m.dir, 'd'));
  await fsp.rename(f, join(m.dir, 'd', 'moved'));
  t.notOk(existsSync(f));
  t.same((await fsp.readdir(join(m.dir, 'd'))), ['moved']);
  await fsp.unlink(join(m.dir, 'd', 'moved'));
  await fsp.rmdir(join(m.dir, 'd'));
  t.same((await fsp.readdir(m.dir)).sort(), ['rw']);
});
