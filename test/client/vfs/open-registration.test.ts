import t from 'tap';
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type TestCluster } from '../../helpers/cluster.js';
import { mountFs } from '../../helpers/mount.js';

/**
 * Opens are registered with the cluster (docs/perf-meta.md): a create registers its open inside its
 * mknod entry, a writing open by name in its own, and a read-only open rides along with a later
 * request (it returned unregistered; an unlinked file waits out a grace period, here 1.5 s, before it
 * is deleted). Closes ride along too. Whatever rides where, a file open on one mount stays usable after
 * another mount unlinks it, past the grace period, and is collected once the last descriptor closes.
 */
const GRACE_MS = 1500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function gone(cluster: TestCluster, ino: number): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    const r = await cluster.call(cluster.nodes[0]!.id, 'localRead', { op: 'getattr', args: { ino } });
    if (!r.ok) return true;
    await sleep(100);
  }
  return false;
}

t.test('mount: a file open on one mount survives an unlink on another, and goes at its last close', async (t) => {
  const cluster = await startCluster(t, { nodes: 3, nodeArgs: ['--orphan-grace-ms', String(GRACE_MS), '--reap-every-ms', '200'] });
  const a = await mountFs(t, cluster.urls);
  const b = await mountFs(t, cluster.urls);

  // Created here (open registered in the mknod entry), unlinked there before any write reached the cluster.
  const fd = openSync(join(a.dir, 'created'), 'wx+');
  const created = fstatSync(fd).ino;
  unlinkSync(join(b.dir, 'created'));
  writeSync(fd, 'written after the unlink');
  fsyncSync(fd); // commits to the orphan: fails with ENOENT if the open had not been registered
  const buf = Buffer.alloc(64);
  t.equal(buf.subarray(0, readSync(fd, buf, 0, 64, 0)).toString(), 'written after the unlink');

  // Opened read-only by name (one request), unlinked elsewhere before the first read.
  writeFileSync(join(a.dir, 'readonly'), 'committed contents');
  await sleep(1100); // the path cache forgets the name: the open resolves it on the cluster
  const rd = openSync(join(a.dir, 'readonly'), 'r');
  const readonly = fstatSync(rd).ino;
  unlinkSync(join(b.dir, 'readonly'));
  await sleep(GRACE_MS + 1500); // past the grace period: only the open's late registration keeps it
  t.equal(buf.subarray(0, readSync(rd, buf, 0, 64, 0)).toString(), 'committed contents', 'readable after the unlink and the grace period');
  t.ok((await cluster.call(cluster.nodes[0]!.id, 'localRead', { op: 'getattr', args: { ino: readonly } })).ok, 'the read-only orphan is kept past the grace period while open');

  t.ok((await cluster.call(cluster.nodes[0]!.id, 'localRead', { op: 'getattr', args: { ino: created } })).ok, 'kept while open');
  closeSync(fd);
  closeSync(rd);
  t.ok(await gone(cluster, created), 'the created orphan is collected after its last close');
  t.ok(await gone(cluster, readonly), 'the read-only orphan too');
  t.throws(() => openSync(join(a.dir, 'missing'), 'r'), { code: 'ENOENT' });
  writeFileSync(join(b.dir, 'fromB'), 'seen at open');
  t.equal(readFileSync(join(a.dir, 'fromB'), 'utf8'), 'seen at open', 'an open by name sees the other mount\'s file');
});

t.test('mount: files unlinked together are collected together, and a file numbered among them is kept', async (t) => {
  const cluster = await startCluster(t, { nodes: 3, nodeArgs: ['--orphan-grace-ms', String(GRACE_MS), '--reap-every-ms', '200'] });
  const a = await mountFs(t, cluster.urls);
  // More than one reaping entry holds (REAP_BATCH_MAX 256), numbered consecutively around the kept file.
  const names = Array.from({ length: 300 }, (_, i) => `f${i}`);
  const inos: number[] = [];
  for (const [i, name] of names.entries()) {
    if (i === 150) writeFileSync(join(a.dir, 'kept'), 'kept contents');
    writeFileSync(join(a.dir, name), `contents of ${name}`);
    inos.push(fstatInoOf(join(a.dir, name)));
  }
  const kept = fstatInoOf(join(a.dir, 'kept'));
  t.ok(inos[149]! < kept && kept < inos[150]!, 'the kept file is numbered among them');
  for (const name of names) unlinkSync(join(a.dir, name));
  for (const ino of [inos[0]!, inos[149]!, inos[150]!, inos[299]!]) t.ok(await gone(cluster, ino), `inode ${ino} collected`);
  const b = await mountFs(t, cluster.urls); // nothing cached: the bytes come from the cluster
  t.equal(readFileSync(join(b.dir, 'kept'), 'utf8'), 'kept contents', 'the file numbered among them keeps its data');
});

function fstatInoOf(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).ino;
  } finally {
    closeSync(fd);
  }
}
