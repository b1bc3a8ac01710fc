// The patched binding with hard_remove: ops on a file unlinked while open get '' as the path (libfuse
// passes NULL: flag_nullpath_ok), and nothing crashes. Runs as root (mounts FUSE).
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Fuse, FuseMount, fuseErrno, type Operations, type Stat } from '../../../client/fuse/binding.js';

const execFileP = promisify(execFile);

/** A file system keyed by file handle, so fd ops need no path; records the path each op was given. */
function fhFs(seen: Map<string, string[]>): Operations {
  const byPath = new Map<string, number>();
  const data = new Map<number, Buffer>();
  let nextFh = 10;
  const note = (op: string, p: string) => seen.set(op, [...(seen.get(op) ?? []), p]);
  const stat = (fh: number, nlink: number): Stat => ({ mode: 0o100644, uid: 0, gid: 0, size: data.get(fh)!.length, nlink, ino: fh, atime: [0, 0], mtime: [0, 0], ctime: [0, 0] });
  const ENOENT = fuseErrno('ENOENT');
  return {
    getattr: (p, cb) => {
      if (p === '/') return cb(0, { mode: 0o40755, nlink: 2, size: 0, ino: 1, atime: [0, 0], mtime: [0, 0], ctime: [0, 0] });
      const fh = byPath.get(p);
      return fh === undefined ? cb(ENOENT) : cb(0, stat(fh, 1));
    },
    fgetattr: (p, fd, cb) => { note('fgetattr', p); cb(0, stat(fd, byPath.has(p) ? 1 : 0)); },
    readdir: (_p, cb) => cb(0, ['.', '..', ...[...byPath.keys()].map((k) => k.slice(1))]),
    create: (p, _mode, _flags, cb) => { const fh = nextFh++; byPath.set(p, fh); data.set(fh, Buffer.alloc(0)); cb(0, fh); },
    open: (p, _flags, cb) => { const fh = byPath.get(p); return fh === undefined ? cb(ENOENT) : cb(0, fh); },
    unlink: (p, cb) => (byPath.delete(p) ? cb(0) : cb(ENOENT)),
    write: (p, fd, buf, len, off, cb) => {
      note('write', p);
      const cur = data.get(fd)!;
      const next = Buffer.alloc(Math.max(cur.length, off + len));
      cur.copy(next);
      buf.copy(next, off, 0, len);
      data.set(fd, next);
      cb(len);
    },
    read: (p, fd, buf, len, off, cb) => { note('read', p); cb(data.get(fd)!.copy(buf, 0, off, Math.min(off + len, data.get(fd)!.length))); },
    ftruncate: (p, fd, size, cb) => { note('ftruncate', p); const b = Buffer.alloc(size); data.get(fd)!.copy(b, 0, 0, size); data.set(fd, b); cb(0); },
    flush: (p, _fd, _owner, cb) => { note('flush', p); cb(0); },
    fsync: (p, _ds, _fd, cb) => { note('fsync', p); cb(0); },
    release: (p, _fd, _flockRelease, _owner, cb) => { note('release', p); cb(0); },
    lock: (p, _fd, _cmd, _lock, _owner, _signal, cb) => { note('lock', p); cb(0); },
    flock: (p, _fd, _op, _owner, _signal, cb) => { note('flock', p); cb(0); },
  };
}

t.test('binding: Fuse.features.nullPath, and with hard_remove the ops of an unlinked open file get \'\' as the path', async (t) => {
  t.equal(Fuse.features.nullPath, true);
  const dir = mkdtempSync(join(tmpdir(), 'tidefs-nullpath-'));
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  const seen = new Map<string, string[]>();
  const mount = new FuseMount(mnt, fhFs(seen), { options: { attrTimeoutSec: 0, entryTimeoutSec: 0, hardRemove: true } });
  t.teardown(async () => {
    await mount.unmount().catch(() => undefined);
    spawnSync('fusermount', ['-u', '-z', mnt]);
    rmSync(dir, { recursive: true, force: true });
  });
  await mount.mount();
  const code = `import os, sys, fcntl, json
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.unlink(sys.argv[1])
os.pwrite(fd, b'hello', 0)
r = os.pread(fd, 5, 0).decode()
os.ftruncate(fd, 3)
os.fsync(fd)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.close(fd)
print(json.dumps({'read': r, 'listed': os.listdir(os.path.dirname(sys.argv[1]))}))`;
  const { stdout } = await execFileP('python3', ['-c', code, join(mnt, 'f')]);
  t.same(JSON.parse(stdout), { read: 'hello', listed: [] }, 'no .fuse_hidden file: the unlink was real');
  for (const op of ['write', 'read', 'ftruncate', 'fsync', 'lock', 'flock', 'flush', 'release']) {
    t.ok(seen.get(op)?.includes(''), `${op} got '' (${JSON.stringify(seen.get(op))})`);
  }
});
