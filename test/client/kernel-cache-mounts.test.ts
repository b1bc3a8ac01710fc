// The kernel caches attributes and names for 60 s (client/fuse/mount.ts); these tests check through
// two real mounts of one cluster that the cache is used, and that it never hides another mount's
// changes: close-to-open at open, the cluster's change pushes for everything else.
import t, { type Test } from 'tap';
import { appendFileSync, chmodSync, closeSync, existsSync, fstatSync, linkSync, mkdirSync, openSync, readFileSync, readSync, renameSync,
  statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';

{
  const cluster = await startCluster(t, { nodes: 3 });
  // B runs with --debug: its log has one line per request the kernel sent, which the first test counts.
  const a = await mountFs(t, cluster.urls);
  const b = await mountFs(t, cluster.urls, { args: ['--debug'] });
  const A = a.dir, B = b.dir;

  /** Polls until `f` holds (the push is asynchronous), failing after 3 s. */
  const eventually = async (t: Test, what: string, f: () => boolean) => {
    const end = Date.now() + 3000;
    while (!f()) {
      if (Date.now() > end) return t.fail(`${what}: not seen within 3 s`);
      await sleep(20);
    }
    t.pass(what);
  };
  const getattrsOf = (name: string) => readFileSync(b.logFile, 'utf8').split('\n').filter((l) => l.includes(`DEBUG getattr /${name} `)).length;

  t.test('repeated stats are answered by the kernel', async (t) => {
    writeFileSync(join(A, 's'), 'x');
    statSync(join(B, 's'));
    const before = getattrsOf('s');
    for (let i = 0; i < 200; i++) statSync(join(B, 's'));
    t.ok(getattrsOf('s') - before <= 1, `200 stats reached the client ${getattrsOf('s') - before} times`);
  });

  t.test('close-to-open: an open right after the other mount\'s close sees the new size and data', async (t) => {
    writeFileSync(join(A, 'c'), 'short');
    t.equal(statSync(join(B, 'c')).size, 5, 'B caches the first size');
    appendFileSync(join(A, 'c'), ' and now longer');
    const fd = openSync(join(B, 'c'), 'r'); // no wait: the open itself must drop the stale copy
    try {
      t.equal(fstatSync(fd).size, 20, 'size');
      const buf = Buffer.alloc(64);
      t.equal(buf.subarray(0, readSync(fd, buf, 0, 64, 0)).toString(), 'short and now longer', 'data');
    } finally {
      closeSync(fd);
    }
  });

  t.test('another mount\'s chmod, link, unlink and rename reach the cached stats', async (t) => {
    writeFileSync(join(A, 'm'), 'x');
    writeFileSync(join(A, 'gone'), 'x');
    writeFileSync(join(A, 'from'), 'x');
    for (const n of ['m', 'gone', 'from']) statSync(join(B, n)); // cached by B's kernel now
    chmodSync(join(A, 'm'), 0o600);
    await eventually(t, 'mode', () => (statSync(join(B, 'm')).mode & 0o777) === 0o600);
    linkSync(join(A, 'm'), join(A, 'm2'));
    await eventually(t, 'link count', () => statSync(join(B, 'm')).nlink === 2);
    unlinkSync(join(A, 'gone'));
    await eventually(t, 'unlinked name', () => !existsSync(join(B, 'gone')));
    renameSync(join(A, 'from'), join(A, 'to'));
    await eventually(t, 'renamed name', () => !existsSync(join(B, 'from')) && existsSync(join(B, 'to')));
    writeFileSync(join(A, 'm'), 'longer data');
    await eventually(t, 'size after the other mount\'s close', () => statSync(join(B, 'm')).size === 11);
  });

  t.test('names another mount adds to a directory this mount made (and so knows completely) reach it', async (t) => {
    mkdirSync(join(B, 'made'));
    for (let i = 0; i < 20; i++) t.notOk(existsSync(join(B, 'made', `absent${i}`)), 'absent names, answered by B alone');
    const own = openSync(join(B, 'made', 'own'), 'wx');
    writeSync(own, 'mine');
    closeSync(own);
    const lines = readFileSync(b.logFile, 'utf8').split('\n');
    t.equal(lines.filter((l) => l.includes('DEBUG fgetattr /made/own ')).length, 0, "libfuse's fgetattr after the create was answered by the binding");
    t.equal(lines.filter((l) => l.includes('DEBUG getattr /made ok')).length, 0, "and its getattr after the mkdir");
    t.equal(readFileSync(join(B, 'made', 'own'), 'utf8'), 'mine', 'its own names are found');
    t.equal(statSync(join(B, 'made')).isDirectory(), true);
    t.notOk(existsSync(join(B, 'made', 'x')));
    writeFileSync(join(A, 'made', 'x'), 'from A');
    await eventually(t, "A's new file", () => existsSync(join(B, 'made', 'x')));
    t.equal(readFileSync(join(B, 'made', 'x'), 'utf8'), 'from A');
    mkdirSync(join(B, 'made2'));
    t.notOk(existsSync(join(B, 'made2', 'moved')));
    renameSync(join(A, 'made', 'x'), join(A, 'made2', 'moved'));
    await eventually(t, "A's rename into it", () => existsSync(join(B, 'made2', 'moved')) && !existsSync(join(B, 'made', 'x')));
    renameSync(join(B, 'made', 'own'), join(B, 'made2', 'own'));
    t.equal(readFileSync(join(B, 'made2', 'own'), 'utf8'), 'mine', "B's own rename into it");
  });
}
