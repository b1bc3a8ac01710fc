/**
 * An in-memory file system behind the same patched fuse-native binding and the same mount options as
 * a tidefs mount, with no network, no replication and no durability: the fastest any file system in
 * this process model (libfuse 2.9 high-level API → one Node.js thread) can be on this machine. The
 * ceiling benchmark (test/bench/ceiling.ts) runs the bench workloads on it, so every tidefs ratio can
 * be read against what FUSE 2 itself allows here.
 *
 *   node dist/test/bench/memfs.js MOUNTPOINT [--discard]   (runs until SIGTERM/SIGINT, then unmounts)
 *
 * --discard keeps no file bytes (sizes and times only; reads return zeros). Storing a 1 GiB file means
 * faulting in 1 GiB of fresh memory, which on this kind of VM holds memfs to ~270 MiB/s, while the
 * FUSE path itself takes 1.4–2.1 GB/s: the stored figure is memfs's own limit, not FUSE's. A file
 * system that writes to disk (tidefs reuses its buffers) never pays that, so the sequential-write
 * ceiling is the discard figure (docs/performance.md, "Session 11").
 */
import { constants as C } from 'node:fs';
import { Fuse, FuseMount, fuseErrno, UTIME_NOW, UTIME_OMIT, type Operations, type Stat, type TimeSpec } from '../../client/fuse/binding.js';
import { tidefsMountOptions } from '../../client/fuse/mount.js';

const PIECE = 1 << 20; // file data lives in 1 MiB pieces, allocated on first write
const DISCARD = process.argv.includes('--discard');

interface Node {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  atime: TimeSpec;
  mtime: TimeSpec;
  ctime: TimeSpec;
  pieces?: (Buffer | undefined)[];
  children?: Map<string, Node>;
  target?: string;
  xattrs?: Map<string, Buffer>;
}

let nextIno = 1;
const now = (): TimeSpec => {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
};
function makeNode(mode: number, uid: number, gid: number): Node {
  const t = now();
  const n: Node = { ino: nextIno++, mode, uid, gid, nlink: 1, size: 0, atime: t, mtime: t, ctime: t };
  if ((mode & C.S_IFMT) === C.S_IFDIR) {
    n.children = new Map();
    n.nlink = 2;
  }
  return n;
}
const root = makeNode(C.S_IFDIR | 0o777, 0, 0);
const handles = new Map<number, Node>();
let nextFd = 1;

const E = (name: Parameters<typeof fuseErrno>[0]) => fuseErrno(name);
function caller(): { uid: number; gid: number } {
  const c = Fuse.context();
  return c ? { uid: c.uid, gid: c.gid } : { uid: 0, gid: 0 };
}

function split(path: string): [string, string] {
  const i = path.lastIndexOf('/');
  return [path.slice(0, i) || '/', path.slice(i + 1)];
}
function find(path: string): Node | undefined {
  if (path === '/') return root;
  let n: Node | undefined = root;
  for (const part of path.split('/')) {
    if (!part) continue;
    n = n?.children?.get(part);
    if (!n) return undefined;
  }
  return n;
}
function stat(n: Node): Stat {
  return {
    mode: n.mode, uid: n.uid, gid: n.gid, size: n.size, nlink: n.nlink, ino: n.ino, rdev: 0, blksize: 131072,
    blocks: Math.ceil(n.size / 512), dev: 0, atime: n.atime, mtime: n.mtime, ctime: n.ctime,
  } as Stat;
}
function add(path: string, mode: number, cb: (r: number, n?: Node) => void): void {
  const [dir, name] = split(path);
  const parent = find(dir);
  if (!parent?.children) return cb(E('ENOENT'));
  if (parent.children.has(name)) return cb(E('EEXIST'));
  const { uid, gid } = caller();
  const n = makeNode(mode, uid, gid);
  parent.children.set(name, n);
  if (n.children) parent.nlink++;
  parent.mtime = parent.ctime = now();
  cb(0, n);
}
function remove(path: string, dirWanted: boolean): number {
  const [dir, name] = split(path);
  const parent = find(dir);
  const n = parent?.children?.get(name);
  if (!parent || !n) return E('ENOENT');
  if (dirWanted !== Boolean(n.children)) return E(dirWanted ? 'ENOTDIR' : 'EISDIR');
  if (n.children && n.children.size > 0) return E('ENOTEMPTY');
  parent.children!.delete(name);
  if (n.children) parent.nlink--;
  n.nlink--;
  parent.mtime = parent.ctime = now();
  return 0;
}
function truncateNode(n: Node, size: number): void {
  if (n.pieces && size < n.size) {
    const keep = Math.ceil(size / PIECE);
    n.pieces.length = Math.min(n.pieces.length, keep);
    const tail = n.pieces[keep - 1];
    if (tail && size % PIECE) tail.fill(0, size % PIECE);
  }
  n.size = size;
  n.mtime = n.ctime = now();
}
function readNode(n: Node, buf: Buffer, len: number, pos: number): number {
  const end = Math.min(n.size, pos + len);
  let done = 0;
  for (let p = pos; p < end;) {
    const piece = n.pieces?.[Math.floor(p / PIECE)];
    const off = p % PIECE;
    const take = Math.min(PIECE - off, end - p);
    if (piece) piece.copy(buf, done, off, off + take);
    else buf.fill(0, done, done + take);
    done += take;
    p += take;
  }
  return done;
}
function writeNode(n: Node, buf: Buffer, len: number, pos: number): number {
  n.pieces ??= [];
  for (let done = 0; done < len && !DISCARD;) {
    const p = pos + done;
    const i = Math.floor(p / PIECE);
    const piece = (n.pieces[i] ??= Buffer.alloc(PIECE));
    const off = p % PIECE;
    const take = Math.min(PIECE - off, len - done);
    buf.copy(piece, off, done, done + take);
    done += take;
  }
  n.size = Math.max(n.size, pos + len);
  n.mtime = n.ctime = now();
  return len;
}
function time(t: TimeSpec, old: TimeSpec): TimeSpec {
  if (t[1] === UTIME_OMIT) return old;
  if (t[1] === UTIME_NOW) return now();
  return [t[0], t[1]];
}
function openFd(n: Node): number {
  const fd = nextFd++;
  handles.set(fd, n);
  return fd;
}

const ops: Operations = {
  init: (cb) => cb(0),
  getattr: (p, cb) => { const n = find(p); return n ? cb(0, stat(n)) : cb(E('ENOENT')); },
  fgetattr: (p, fd, cb) => { const n = handles.get(fd) ?? find(p); return n ? cb(0, stat(n)) : cb(E('ENOENT')); },
  access: (_p, _m, cb) => cb(0),
  statfs: (_p, cb) => cb(0, { bsize: 4096, frsize: 4096, blocks: 1 << 28, bfree: 1 << 27, bavail: 1 << 27, files: 1 << 24, ffree: 1 << 23, favail: 1 << 23, namemax: 255 }),
  readdir: (p, cb) => { const n = find(p); return n?.children ? cb(0, ['.', '..', ...n.children.keys()]) : cb(E('ENOTDIR')); },
  mkdir: (p, mode, cb) => add(p, C.S_IFDIR | (mode & 0o7777), (r) => cb(r)),
  rmdir: (p, cb) => cb(remove(p, true)),
  mknod: (p, mode, _dev, cb) => add(p, mode, (r) => cb(r)),
  create: (p, mode, _flags, cb) => add(p, C.S_IFREG | (mode & 0o7777), (r, n) => (r ? cb(r) : cb(0, openFd(n!)))),
  open: (p, flags, cb) => {
    const n = find(p);
    if (!n) return cb(E('ENOENT'));
    if (flags & C.O_TRUNC) truncateNode(n, 0);
    cb(0, openFd(n));
  },
  read: (_p, fd, buf, len, pos, cb) => { const n = handles.get(fd); cb(n ? readNode(n, buf, len, pos) : E('EBADF')); },
  write: (_p, fd, buf, len, pos, cb) => { const n = handles.get(fd); cb(n ? writeNode(n, buf, len, pos) : E('EBADF')); },
  flush: (_p, _fd, _owner, cb) => cb(0),
  fsync: (_p, _d, _fd, cb) => cb(0),
  fsyncdir: (_p, _d, _fd, cb) => cb(0),
  release: (_p, fd, _fr, _owner, cb) => { handles.delete(fd); cb(0); },
  truncate: (p, size, cb) => { const n = find(p); if (!n) return cb(E('ENOENT')); truncateNode(n, size); cb(0); },
  ftruncate: (p, fd, size, cb) => { const n = handles.get(fd) ?? find(p); if (!n) return cb(E('ENOENT')); truncateNode(n, size); cb(0); },
  unlink: (p, cb) => cb(remove(p, false)),
  rename: (from, to, cb) => {
    const [fd, fname] = split(from);
    const [td, tname] = split(to);
    const fp = find(fd);
    const tp = find(td);
    const n = fp?.children?.get(fname);
    if (!n || !tp?.children) return cb(E('ENOENT'));
    fp!.children!.delete(fname);
    tp.children.set(tname, n);
    cb(0);
  },
  link: (from, to, cb) => {
    const n = find(from);
    const [td, tname] = split(to);
    const tp = find(td);
    if (!n || !tp?.children) return cb(E('ENOENT'));
    if (tp.children.has(tname)) return cb(E('EEXIST'));
    tp.children.set(tname, n);
    n.nlink++;
    cb(0);
  },
  symlink: (target, p, cb) => add(p, C.S_IFLNK | 0o777, (r, n) => { if (n) { n.target = target; n.size = Buffer.byteLength(target); } cb(r); }),
  readlink: (p, cb) => { const n = find(p); return n?.target !== undefined ? cb(0, n.target) : cb(E('EINVAL')); },
  chmod: (p, mode, cb) => { const n = find(p); if (!n) return cb(E('ENOENT')); n.mode = (n.mode & C.S_IFMT) | (mode & 0o7777); n.ctime = now(); cb(0); },
  chown: (p, uid, gid, cb) => {
    const n = find(p);
    if (!n) return cb(E('ENOENT'));
    if (uid !== -1 && uid !== 0xffffffff) n.uid = uid;
    if (gid !== -1 && gid !== 0xffffffff) n.gid = gid;
    n.ctime = now();
    cb(0);
  },
  utimens: (p, at, mt, cb) => { const n = find(p); if (!n) return cb(E('ENOENT')); n.atime = time(at, n.atime); n.mtime = time(mt, n.mtime); n.ctime = now(); cb(0); },
  // A real file system with xattrs: the kernel's security.capability probe before writes gets ENODATA,
  // as it does from tidefs (ENOSYS would switch xattrs off for the mount and skip the probe).
  getxattr: (p, name, _pos, cb) => { const v = find(p)?.xattrs?.get(name); return v ? cb(0, v) : cb(E('ENODATA')); },
  setxattr: (p, name, value, _pos, _flags, cb) => { const n = find(p); if (!n) return cb(E('ENOENT')); (n.xattrs ??= new Map()).set(name, Buffer.from(value)); cb(0); },
  listxattr: (p, cb) => cb(0, [...(find(p)?.xattrs?.keys() ?? [])]),
  removexattr: (p, name, cb) => cb(find(p)?.xattrs?.delete(name) ? 0 : E('ENODATA')),
};

async function main(): Promise<void> {
  const mnt = process.argv[2];
  if (!mnt) {
    process.stderr.write('usage: memfs MOUNTPOINT [--discard]\n');
    process.exit(2);
  }
  const fs = new FuseMount(mnt, ops, { options: tidefsMountOptions({ mountpoint: mnt, strict: false }), timeout: false });
  await fs.mount();
  process.stderr.write(`memfs: mounted at ${mnt}${DISCARD ? ', keeping no file bytes (--discard)' : ''}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    fs.unmount().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`memfs: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
