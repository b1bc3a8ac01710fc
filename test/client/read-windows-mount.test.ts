import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';

/**
 * Read windows (client/vfs/read-windows.ts): once a sequential reader's unit has arrived, the binding
 * answers the kernel's reads within it without asking the client's thread. These check that a window
 * never answers with bytes a read through the client would not: after this mount writes the file
 * (read-after-write on another handle), and after a lock grant that brings another mount's closed
 * write. Each read first drops the file's pages (posix_fadvise), so it reaches the mount.
 */
const execFileP = promisify(execFile);
const MiB = 1 << 20;

async function py(code: string, ...args: string[]): Promise<any> {
  const { stdout } = await execFileP('python3', ['-c', `import os, sys, json, fcntl\n${code}`, ...args]);
  return JSON.parse(stdout);
}

/** Opens argv[1] read-only and reads its first MiB in 64 KiB pieces: the reader's first unit arrives. */
const READ_FIRST_MIB = `
fd = os.open(sys.argv[1], os.O_RDONLY)
for k in range(16): os.read(fd, 65536)
def at(off, n):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    return os.pread(fd, n, off).hex()
`;

t.test('mount: a write through another handle of the mount is seen at once by a reader whose window holds the old bytes', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  const a = await mountFs(t, cluster.urls);
  const file = join(a.dir, 'f');
  const data = randomBytes(8 * MiB);
  writeFileSync(file, data);
  const got = await py(`${READ_FIRST_MIB}
before = at(2 * 1048576, 4096)
w = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(w, b'Z' * 4096, 2 * 1048576)   # buffered by the client, not committed yet
after = at(2 * 1048576, 4096)
os.close(w)
closed = at(2 * 1048576, 4096)
print(json.dumps([before, after, closed]))`, file);
  t.equal(got[0], data.subarray(2 * MiB, 2 * MiB + 4096).toString('hex'), 'the old bytes before the write');
  t.equal(got[1], Buffer.alloc(4096, 'Z').toString('hex'), 'the written bytes right after the write, before any commit');
  t.equal(got[2], Buffer.alloc(4096, 'Z').toString('hex'), 'and after the writer closed');
});

t.test('mount: a lock grant brings another mount\'s closed write to a reader whose window holds the old bytes', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  const a = await mountFs(t, cluster.urls);
  const b = await mountFs(t, cluster.urls);
  const data = randomBytes(8 * MiB);
  writeFileSync(join(a.dir, 'g'), data);
  const fresh = randomBytes(4096);
  const bFile = join(b.dir, 'g');
  const got = await py(`${READ_FIRST_MIB}
before = at(1048576, 4096)
import subprocess
subprocess.run([sys.executable, '-c', 'import os, sys\\nfd = os.open(sys.argv[1], os.O_WRONLY)\\nos.pwrite(fd, bytes.fromhex(sys.argv[2]), 1048576)\\nos.close(fd)', sys.argv[2], sys.argv[3]], check=True)
fcntl.lockf(fd, fcntl.LOCK_SH, 0, 0)      # the grant revalidates the file (docs/locking.md)
after = at(1048576, 4096)
fcntl.lockf(fd, fcntl.LOCK_UN, 0, 0)
print(json.dumps([before, after]))`, join(a.dir, 'g'), bFile, fresh.toString('hex'));
  t.equal(got[0], data.subarray(MiB, MiB + 4096).toString('hex'), 'the old bytes before the other mount wrote');
  t.equal(got[1], fresh.toString('hex'), 'the other mount\'s bytes once the lock is granted');
  t.same(readFileSync(join(a.dir, 'g')).subarray(MiB, MiB + 4096), fresh, 'a new open sees them too');
});
