import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../helpers/cluster.js';
import { mountFs, requestsSent } from '../helpers/mount.js';

/**
 * Reading a small file another mount wrote costs one metadata read and nothing else: the read-only
 * open is answered by the leader without a Raft entry (its registration is dropped when the file
 * closes first), and carries the file's bytes (OpenLayout.blocks0), so no block is fetched.
 * The client logs what it sent at unmount; that is what this checks, with the bytes read.
 */
t.test('mount: small files are read with one openRead each: no open entry, no block fetch', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  const a = await mountFs(t, cluster.urls);
  const files = Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: randomBytes(16384) }));
  for (const f of files) writeFileSync(join(a.dir, f.name), f.data);
  const b = await mountFs(t, cluster.urls);
  for (const f of files) t.same(readFileSync(join(b.dir, f.name)), f.data, f.name);
  const { count, line } = requestsSent(await b.unmount());
  t.equal(count('openRead'), files.length, `one openRead per file (${line})`);
  t.equal(count('open'), 0, 'no open entry');
  t.equal(count('blockGet'), 0, 'no block fetched');
  t.equal(count('readChunk'), 0, 'no layout read');
  t.equal(count('release'), 0, 'no release entry: each open was dropped at its close');
});
