// Close-to-open across clients (DESIGN invariant 6): one 3-node cluster, two separate mount
// processes. What mount A writes and closes, mount B sees when it opens the file afterwards: data,
// size and mtime; names that A renames or unlinks are seen so on B. Run for default and --strict
// mounts. Needs the real cluster and mount helpers: there is no local stand-in for two clients.
import t, { type Test } from 'tap';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, statSync,
  unlinkSync, writeFileSync, writeSync, chmodSync, chownSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { errnoOf, loadTidefsHelpers, mountReachable, UID_A, GID_A } from '../helpers/posix.js';

if (process.env.TIDEFS_POSIX_TARGET === 'local') {
  t.pass('skipped: two mounts need a tidefs cluster (TIDEFS_POSIX_TARGET=local)');
} else {
  const { startCluster, mountFs } = await loadTidefsHelpers();
  const cluster = await startCluster(t, { nodes: 3 });
  const mounts: Array<{ unmount(): Promise<void> }> = [];
  const pairs: Array<[string, string, string]> = [];
  try {
    // Every mount first: tap starts subtests as soon as they are defined, and may end the file
    // (running the teardowns) while a later mount is still starting.
    for (const strict of [false, true]) {
      const a = await mountReachable(t, mountFs, cluster.urls, strict);
      mounts.push(a);
      const b = await mountReachable(t, mountFs, cluster.urls, strict);
      mounts.push(b);
      const base = `two-mounts-${strict ? 'strict' : 'default'}`;
      mkdirSync(join(a.dir, base));
      t.teardown(() => rmSync(join(a.dir, base), { recursive: true, force: true }));
      pairs.push([strict ? 'strict' : 'default', join(a.dir, base), join(b.dir, base)]);
    }
    for (const [mode, A, B] of pairs) defineTests(t, mode, A, B);
  } catch (e) {
    // A throw at the top level ends the process before tap's teardowns: stop everything here.
    for (const m of mounts) await m.unmount();
    await cluster.stop();
    throw e;
  }
}

function readAll(p: string): { data: Buffer; size: number; mtimeNs: bigint } {
  const fd = openSync(p, 'r');
  try {
    const s = fstatSync(fd, { bigint: true });
    const data = Buffer.alloc(Number(s.size));
    let n = 0;
    while (n < data.length) {
      const r = readSync(fd, data, n, data.length - n, n);
      if (r === 0) break;
      n += r;
    }
    return { data: data.subarray(0, n), size: Number(s.size), mtimeNs: s.mtimeNs };
  } finally {
    closeSync(fd);
  }
}

function defineTests(t: Test, mode: string, A: string, B: string) {
  t.test(`${mode}: B opening after A closes sees A's data, size and mtime`, async (t) => {
    const big = Buffer.alloc(5 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    writeFileSync(join(A, 'f'), big);
    const onA = statSync(join(A, 'f'), { bigint: true });
    const seen = readAll(join(B, 'f'));
    t.equal(seen.size, big.length, 'size');
    t.ok(seen.data.equals(big), 'data');
    t.equal(seen.mtimeNs, onA.mtimeNs, 'mtime');
  });

  t.test(`${mode}: B sees an overwrite, a truncation and an append made by A after B last read`, async (t) => {
    writeFileSync(join(A, 'g'), 'first version, long');
    t.equal(readAll(join(B, 'g')).data.toString(), 'first version, long', 'B cached the first version');
    const fd = openSync(join(A, 'g'), 'r+');
    writeSync(fd, 'FIRST', 0);
    closeSync(fd);
    t.equal(readAll(join(B, 'g')).data.toString(), 'FIRST version, long', 'overwrite');
    writeFileSync(join(A, 'g'), 'short');
    t.equal(readAll(join(B, 'g')).data.toString(), 'short', 'truncate and rewrite');
    writeFileSync(join(A, 'g'), '+more', { flag: 'a' });
    const after = readAll(join(B, 'g'));
    t.equal(after.data.toString(), 'short+more', 'append');
    t.equal(after.mtimeNs, statSync(join(A, 'g'), { bigint: true }).mtimeNs, 'mtime after append');
  });

  t.test(`${mode}: A sees what B writes and closes`, async (t) => {
    writeFileSync(join(B, 'from-b'), 'written on B');
    t.equal(readFileSync(join(A, 'from-b'), 'utf8'), 'written on B');
  });

  t.test(`${mode}: B sees a rename done on A`, async (t) => {
    writeFileSync(join(A, 'old'), 'moved');
    t.equal(readFileSync(join(B, 'old'), 'utf8'), 'moved', 'B looked the old name up');
    mkdirSync(join(A, 'dir'));
    renameSync(join(A, 'old'), join(A, 'dir', 'new'));
    t.equal(errnoOf(() => closeSync(openSync(join(B, 'old'), 'r'))), 'ENOENT', 'old name gone on B');
    t.equal(readFileSync(join(B, 'dir', 'new'), 'utf8'), 'moved', 'new name on B');
    t.notOk(readdirSync(B).includes('old'), 'readdir on B');
  });

  t.test(`${mode}: B sees a rename over an existing file done on A`, async (t) => {
    writeFileSync(join(A, 'target'), 'old content');
    t.equal(readFileSync(join(B, 'target'), 'utf8'), 'old content');
    writeFileSync(join(A, 'tmp'), 'new content');
    renameSync(join(A, 'tmp'), join(A, 'target'));
    t.equal(readFileSync(join(B, 'target'), 'utf8'), 'new content');
  });

  t.test(`${mode}: B sees an unlink done on A`, async (t) => {
    writeFileSync(join(A, 'doomed'), 'x');
    t.equal(readFileSync(join(B, 'doomed'), 'utf8'), 'x');
    unlinkSync(join(A, 'doomed'));
    t.equal(errnoOf(() => closeSync(openSync(join(B, 'doomed'), 'r'))), 'ENOENT', 'open on B');
    t.equal(errnoOf(() => statSync(join(B, 'doomed'))), 'ENOENT', 'stat on B');
    t.notOk(readdirSync(B).includes('doomed'), 'readdir on B');
  });

  t.test(`${mode}: B sees a file A creates in a directory B has listed`, async (t) => {
    mkdirSync(join(A, 'listed'));
    t.same(readdirSync(join(B, 'listed')), []);
    writeFileSync(join(A, 'listed', 'new'), 'x');
    t.same(readdirSync(join(B, 'listed')), ['new']);
  });

  t.test(`${mode}: B sees the mode and owner A sets`, async (t) => {
    writeFileSync(join(A, 'attrs'), 'x');
    statSync(join(B, 'attrs'));
    chmodSync(join(A, 'attrs'), 0o640);
    chownSync(join(A, 'attrs'), UID_A, GID_A);
    const fd = openSync(join(B, 'attrs'), 'r');
    const s = fstatSync(fd);
    closeSync(fd);
    t.same([s.mode & 0o7777, s.uid, s.gid], [0o640, UID_A, GID_A]);
  });
}
