import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../../helpers/cluster.js';
import { mountFs } from '../../helpers/mount.js';

/**
 * Every op that goes through a file handle, on a file that lost its last name while open. libfuse
 * renames such a file to .fuse_hiddenN; the client makes that a real unlink on the cluster and keeps
 * the hidden name to itself (Vfs.hideOpen), so readdir never shows it and fstat still works.
 */
const SCRIPT = String.raw`
import fcntl, os, sys
d = sys.argv[1]
p = os.path.join(d, 'victim')
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b'before ')
os.unlink(p)
out = {}
out['listed'] = sorted(os.listdir(d))
os.pwrite(fd, b'after', 7)
out['read'] = os.pread(fd, 64, 0).decode()
out['size'] = os.fstat(fd).st_size
out['nlink'] = os.fstat(fd).st_nlink
os.fsync(fd)
os.ftruncate(fd, 9)
out['truncated'] = os.pread(fd, 64, 0).decode()
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 4, 0)
fcntl.lockf(fd, fcntl.LOCK_UN, 4, 0)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
fcntl.flock(fd, fcntl.LOCK_UN)
out['listedAfterIo'] = sorted(os.listdir(d))
# Replaced while open: rename over a file another descriptor still reads.
q = os.path.join(d, 'old')
with open(q, 'w') as f: f.write('old contents')
fd2 = os.open(q, os.O_RDONLY)
with open(os.path.join(d, 'new'), 'w') as f: f.write('new')
os.rename(os.path.join(d, 'new'), q)
out['replacedRead'] = os.pread(fd2, 64, 0).decode()
out['listedReplaced'] = sorted(os.listdir(d))
os.close(fd2)
os.close(fd)
out['listedAfterClose'] = sorted(os.listdir(d))
print(repr(out))
`;

t.test('mount: an unlinked or replaced open file stays usable through its descriptor, and readdir never shows .fuse_hidden', async (t) => {
  if (spawnSync('python3', ['-c', 'pass']).status !== 0) {
    t.comment('skipped: python3 is needed for fcntl/flock on a descriptor');
    return;
  }
  const cluster = await startCluster(t, { nodes: 3 });
  const m = await mountFs(t, cluster.urls);
  const d = join(m.dir, 'dir');
  await fsp.mkdir(d);
  const r = spawnSync('python3', ['-c', SCRIPT, d], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().replace(/'/g, '"')) as Record<string, unknown>;
  t.same(out.listed, [], 'gone from the directory at once');
  t.equal(out.read, 'before after', 'readable and writable after unlink');
  t.equal(out.size, 12);
  t.equal(out.nlink, 0, 'fstat through the descriptor: no names left');
  t.equal(out.truncated, 'before af', 'ftruncate through the descriptor');
  t.same(out.listedAfterIo, [], 'no hidden file after I/O, fsync and locks');
  t.equal(out.replacedRead, 'old contents', 'a replaced file keeps its contents for its reader');
  t.same(out.listedReplaced, ['old']);
  t.same(out.listedAfterClose, ['old']);
  t.notOk(readdirSync(m.dir).some((n) => n.startsWith('.fuse_hidden')));
  t.notOk(existsSync(join(d, 'victim')));
});
