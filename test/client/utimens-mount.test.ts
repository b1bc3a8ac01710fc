// How GNU tar extracts a regular file, through a real mount: create, write (buffered by the client),
// futimens with explicit times, fchown, fchmod, close. The three changes wait for the commit of the
// buffered data and ride on it (one commitWrite, no setattr: client/vfs/deferred-attrs.ts); the
// descriptor shows them at once, and another mount sees the data, owner, mode and the explicit mtime
// as soon as close returned.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import {
  chmodSync, chownSync, closeSync, constants, fchmodSync, fchownSync, fstatSync, futimesSync, mkdirSync, mkdtempSync, openSync,
  readFileSync, rmSync, statSync, utimesSync, writeFileSync, writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../helpers/cluster.js';
import { mountFs, requestsSent } from '../helpers/mount.js';

const cluster = await startCluster(t, { nodes: 3 });
const b = await mountFs(t, cluster.urls);

t.test('write, futimens, fchown, fchmod, close: one commitWrite and no setattr; fstat and another mount see it all', async (t) => {
  mkdirSync(join(b.dir, 'x'));
  // Mounted after the directory exists: its request counts are those of the extraction only.
  const a = await mountFs(t, cluster.urls);
  const data = Buffer.from(Array.from({ length: 16 * 1024 + 7 }, (_, i) => (i * 7 + 3) & 0xff));
  const atimeS = 981_000_000.5, mtimeS = 981_173_106.25; // exact in binary: whole nanoseconds on both sides
  const fd = openSync(join(a.dir, 'x', 'member'), constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  writeSync(fd, data);
  futimesSync(fd, atimeS, mtimeS);
  fchownSync(fd, 1234, 5678);
  fchmodSync(fd, 0o640);
  const open = fstatSync(fd, { bigint: true });
  t.same([open.uid, open.gid, open.mode, open.mtimeNs], [1234n, 5678n, BigInt(constants.S_IFREG | 0o640), 981_173_106_250_000_000n], 'fstat before the close');
  closeSync(fd);

  const seen = statSync(join(b.dir, 'x', 'member'), { bigint: true });
  t.equal(seen.mtimeNs, 981_173_106_250_000_000n, 'the explicit mtime, on the other mount');
  t.equal(seen.size, BigInt(data.length), 'size');
  t.same([seen.uid, seen.gid, seen.mode], [1234n, 5678n, BigInt(constants.S_IFREG | 0o640)], 'owner and mode');
  t.ok(readFileSync(join(b.dir, 'x', 'member')).equals(data), 'the data, on the other mount');

  const sent = requestsSent(await a.unmount());
  t.equal(sent.count('commitWrite'), 1, 'one commitWrite, carrying times, owner and mode');
  t.equal(sent.count('setattr'), 0, 'no setattr');
  t.equal(sent.count('mknod'), 1, 'the create');
});

t.test('tar -x through a mount: every member has its mode, owner, mtime and bytes on another mount', async (t) => {
  const src = mkdtempSync(join(tmpdir(), 'tidefs-tar-'));
  t.teardown(() => rmSync(src, { recursive: true, force: true }));
  const members: { name: string; mode: number; uid: number; mtime: number; data: Buffer }[] = [];
  mkdirSync(join(src, 'tree'));
  for (let i = 0; i < 40; i++) {
    const m = { name: `f${i}`, mode: [0o644, 0o600, 0o755, 0o4755, 0o640][i % 5]!, uid: 1000 + (i % 3), mtime: 1_000_000_000 + i * 86_400, data: Buffer.alloc(100 + i * 401, 97 + (i % 26)) };
    const p = join(src, 'tree', m.name);
    writeFileSync(p, m.data);
    chownSync(p, m.uid, m.uid);
    chmodSync(p, m.mode); // after chown, which takes setuid
    utimesSync(p, m.mtime, m.mtime);
    members.push(m);
  }
  execFileSync('tar', ['-cf', join(src, 't.tar'), '-C', src, 'tree']);
  const a = await mountFs(t, cluster.urls);
  execFileSync('tar', ['-xf', join(src, 't.tar'), '-C', a.dir]);
  for (const m of members) {
    const st = statSync(join(b.dir, 'tree', m.name));
    const ok = st.mode === (constants.S_IFREG | m.mode) && st.uid === m.uid && st.gid === m.uid && st.mtimeMs === m.mtime * 1000 &&
      readFileSync(join(b.dir, 'tree', m.name)).equals(m.data);
    if (!ok) t.fail(`${m.name}: mode ${st.mode.toString(8)} uid ${st.uid} gid ${st.gid} mtime ${st.mtimeMs}, archived ${m.mode.toString(8)} ${m.uid} ${m.mtime * 1000}`);
  }
  t.pass('all members checked on the other mount');
  const sent = requestsSent(await a.unmount());
  t.equal(sent.count('commitWrite'), members.length, 'one commitWrite per file');
  t.ok(sent.count('setattr') <= 3, `setattr only for the directory (${sent.count('setattr')})`);
});

t.test('a file kept open: another mount sees its fchmod within a second or two, without the close', async (t) => {
  const a = await mountFs(t, cluster.urls);
  const fd = openSync(join(a.dir, 'kept'), constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  t.teardown(() => closeSync(fd));
  writeSync(fd, 'first line\n');
  t.equal(statSync(join(b.dir, 'kept')).mode & 0o777, 0o600, 'the other mount has looked at it (and caches it)');
  fchmodSync(fd, 0o640);
  const t0 = Date.now();
  while ((statSync(join(b.dir, 'kept')).mode & 0o777) !== 0o640 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
  const waited = Date.now() - t0;
  t.equal(statSync(join(b.dir, 'kept')).mode & 0o777, 0o640, `seen after ${waited} ms`);
  t.ok(waited < 5000, 'within DEFER_ATTRS_MS and a push');
  t.equal(statSync(join(b.dir, 'kept')).size, 11, 'with the data written before it');
});

t.test('strict mounts send each change at once', async (t) => {
  const a = await mountFs(t, cluster.urls, { strict: true });
  const fd = openSync(join(a.dir, 'strict'), constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  writeSync(fd, 'x');
  futimesSync(fd, 1000, 1000);
  fchownSync(fd, 1234, 5678);
  fchmodSync(fd, 0o640);
  t.equal(statSync(join(b.dir, 'strict')).mode & 0o777, 0o640, 'another mount sees the chmod before the close');
  closeSync(fd);
  const sent = requestsSent(await a.unmount());
  t.equal(sent.count('setattr'), 3, 'a setattr each');
});
