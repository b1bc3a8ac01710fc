// How GNU tar extracts a regular file, through a real mount: create, write (buffered by the client),
// futimens with explicit times, fchown, fchmod, close. The times ride on the commit of the buffered
// data (one commitWrite, no setattr for them: docs/perf-meta.md), and another mount sees the data,
// owner, mode and the explicit mtime as soon as close returned.
import t from 'tap';
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../helpers/cluster.js';
import { mountFs, requestsSent } from '../helpers/mount.js';

const cluster = await startCluster(t, { nodes: 3 });
const b = await mountFs(t, cluster.urls);

t.test('write, futimens, fchown, fchmod, close: one commitWrite, setattr only for fchown and fchmod; another mount sees it all', async (t) => {
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
  closeSync(fd);

  const seen = statSync(join(b.dir, 'x', 'member'), { bigint: true });
  t.equal(seen.mtimeNs, 981_173_106_250_000_000n, 'the explicit mtime, on the other mount');
  t.equal(seen.size, BigInt(data.length), 'size');
  t.same([seen.uid, seen.gid, seen.mode], [1234n, 5678n, BigInt(constants.S_IFREG | 0o640)], 'owner and mode');
  t.ok(readFileSync(join(b.dir, 'x', 'member')).equals(data), 'the data, on the other mount');

  const sent = requestsSent(await a.unmount());
  t.equal(sent.count('commitWrite'), 1, 'one commitWrite, carrying the times');
  t.equal(sent.count('setattr'), 2, 'setattr for fchown and fchmod, none for the times');
  t.equal(sent.count('mknod'), 1, 'the create');
});
