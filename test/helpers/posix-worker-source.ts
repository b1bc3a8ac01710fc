// The source of the python3 worker that makes the system calls Node cannot make (mknod of devices,
// utimensat with UTIME_NOW/UTIME_OMIT, renameat2 flags, xattrs with flags and sizes, lchown, fcntl)
// and runs operations as another user. It reads one JSON request a line on stdin and writes one JSON
// reply a line on stdout; it exits when stdin closes, so it never outlives the test process.
// A request with credentials forks: the child drops groups, gid and uid (in that order, as pjdfstest
// does) before its first operation, so the worker itself stays root.
export const PY_WORKER_SOURCE = String.raw`
import os, sys, json, errno, ctypes, ctypes.util, fcntl, stat

libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
RENAME_FLAGS = {'RENAME_NOREPLACE': 1, 'RENAME_EXCHANGE': 2, 'RENAME_WHITEOUT': 4}

class Timespec(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_nsec', ctypes.c_long)]

def check(rc):
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return rc

def flags_of(names):
    v = 0
    for n in names:
        v |= getattr(os, n)
    return v

def ts(t):
    if t == 'NOW':
        return Timespec(0, UTIME_NOW)
    if t == 'OMIT':
        return Timespec(0, UTIME_OMIT)
    return Timespec(int(t[0]), int(t[1]))

def st(s):
    return {'mode': s.st_mode, 'ino': s.st_ino, 'nlink': s.st_nlink, 'uid': s.st_uid, 'gid': s.st_gid,
            'size': s.st_size, 'rdev': s.st_rdev, 'blocks': s.st_blocks,
            'atime_ns': str(s.st_atime_ns), 'mtime_ns': str(s.st_mtime_ns), 'ctime_ns': str(s.st_ctime_ns)}

def data_of(d):
    return bytes.fromhex(d['hex']) if isinstance(d, dict) else d.encode()

def getxattr_sized(p, name, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = check(libc.getxattr(p.encode(), name.encode(), buf if size else None, ctypes.c_size_t(size)))
    return n if size == 0 else {'hex': buf.raw[:n].hex()}

def listxattr_sized(p, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = check(libc.listxattr(p.encode(), buf if size else None, ctypes.c_size_t(size)))
    return n if size == 0 else [x.decode() for x in buf.raw[:n].split(b'\0') if x]

def utimensat(p, atime, mtime, nofollow=False):
    times = (Timespec * 2)(ts(atime), ts(mtime))
    check(libc.utimensat(AT_FDCWD, p.encode(), times, AT_SYMLINK_NOFOLLOW if nofollow else 0))

def renameat2(a, b, names):
    fl = 0
    for n in names:
        fl |= RENAME_FLAGS[n]
    check(libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), ctypes.c_uint(fl)))

OPS = {
    'open': lambda p, fl, mode=0o644: os.open(p, flags_of(fl), mode),
    'close': lambda fd: os.close(fd),
    'write': lambda fd, d: os.write(fd, data_of(d)),
    'pwrite': lambda fd, d, off: os.pwrite(fd, data_of(d), off),
    'pread': lambda fd, n, off: {'hex': os.pread(fd, n, off).hex()},
    'fsync': lambda fd: os.fsync(fd),
    'ftruncate': lambda fd, n: os.ftruncate(fd, n),
    'fchmod': lambda fd, m: os.fchmod(fd, m),
    'fchown': lambda fd, u, g: os.fchown(fd, u, g),
    'fstat': lambda fd: st(os.fstat(fd)),
    'getfl': lambda fd: fcntl.fcntl(fd, fcntl.F_GETFL),
    'truncate': lambda p, n: os.truncate(p, n),
    'chmod': lambda p, m: os.chmod(p, m),
    'chown': lambda p, u, g: os.chown(p, u, g),
    'lchown': lambda p, u, g: os.lchown(p, u, g),
    'mkdir': lambda p, m=0o755: os.mkdir(p, m),
    'rmdir': lambda p: os.rmdir(p),
    'unlink': lambda p: os.unlink(p),
    'link': lambda a, b: os.link(a, b, follow_symlinks=False),
    'symlink': lambda target, p: os.symlink(target, p),
    'readlink': lambda p: os.readlink(p),
    'rename': lambda a, b: os.rename(a, b),
    'renameat2': renameat2,
    'mknod': lambda p, mode, major=0, minor=0: os.mknod(p, mode, os.makedev(major, minor)),
    'mkfifo': lambda p, m=0o644: os.mkfifo(p, m),
    'stat': lambda p: st(os.stat(p)),
    'lstat': lambda p: st(os.lstat(p)),
    'access': lambda p, m: os.access(p, m) or (_ for _ in ()).throw(OSError(errno.EACCES, 'access')),
    'utimensat': utimensat,
    'setxattr': lambda p, n, v, fl=[]: os.setxattr(p, n, data_of(v), flags_of(fl)),
    'getxattr': lambda p, n: {'hex': os.getxattr(p, n).hex()},
    'getxattr_sized': getxattr_sized,
    'listxattr': lambda p: sorted(os.listxattr(p)),
    'listxattr_sized': listxattr_sized,
    'removexattr': lambda p, n: os.removexattr(p, n),
    'readdir': lambda p: sorted(os.listdir(p)),
    'umask': lambda m: os.umask(m),
}

def resolve(a, results):
    if isinstance(a, dict) and '$' in a:
        return results[a['$']]
    return a

def run(ops):
    results = []
    for op in ops:
        args = [resolve(a, results) for a in op[1:]]
        try:
            results.append(OPS[op[0]](*args))
        except OSError as e:
            return {'errno': errno.errorcode.get(e.errno, str(e.errno)), 'at': len(results)}
    return {'ok': results[-1] if results else None}

def as_user(cred, ops):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(cred.get('groups', []))
            os.setgid(cred['gid'])
            os.setuid(cred['uid'])
            out = run(ops)
        except BaseException as e:
            out = {'fatal': repr(e)}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        c = os.read(r, 65536)
        if not c:
            break
        chunks.append(c)
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(b''.join(chunks))

for line in sys.stdin:
    req = json.loads(line)
    try:
        out = as_user(req['cred'], req['ops']) if req.get('cred') else run(req['ops'])
    except BaseException as e:
        out = {'fatal': repr(e)}
    out['id'] = req['id']
    sys.stdout.write(json.dumps(out) + '\n')
    sys.stdout.flush()
`;
