// A python3 process that takes lock commands as JSON lines on stdin and answers JSON lines: the
// lock calls are real fcntl/flock syscalls on a file under a mount, made by an ordinary process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TestLike } from '../helpers/cluster.js';

const AGENT = String.raw`
import os, sys, json, fcntl, struct, errno, signal, time
path = sys.argv[1]
fds = {}
class Alarm(Exception): pass
def on_alarm(s, f): raise Alarm()
signal.signal(signal.SIGALRM, on_alarm)
T = {'r': fcntl.F_RDLCK, 'w': fcntl.F_WRLCK, 'u': fcntl.F_UNLCK}
N = {fcntl.F_RDLCK: 'r', fcntl.F_WRLCK: 'w', fcntl.F_UNLCK: 'u'}
def fd_of(c):
    k = c.get('fd', 0)
    if k not in fds: fds[k] = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    return fds[k]
def run(c):
    op = c['op']
    if op == 'open': fd_of(c); return {}
    if op == 'close':
        os.close(fds.pop(c.get('fd', 0))); return {}
    if op in ('setlk', 'setlkw', 'getlk'):
        cmd = {'setlk': fcntl.F_SETLK, 'setlkw': fcntl.F_SETLKW, 'getlk': fcntl.F_GETLK}[op]
        fl = struct.pack('hhqqi4x', T[c['type']], 0, c.get('start', 0), c.get('len', 0), 0)
        if c.get('alarm'): signal.setitimer(signal.ITIMER_REAL, c['alarm'])
        try:
            r = fcntl.fcntl(fd_of(c), cmd, fl)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        ty, wh, st, ln, pid = struct.unpack('hhqqi4x', r)
        return {'type': N[ty], 'start': st, 'len': ln, 'pid': pid} if op == 'getlk' else {}
    if op == 'flock':
        how = {'sh': fcntl.LOCK_SH, 'ex': fcntl.LOCK_EX, 'un': fcntl.LOCK_UN}[c['how']] | (fcntl.LOCK_NB if c.get('nb') else 0)
        if c.get('alarm'): signal.setitimer(signal.ITIMER_REAL, c['alarm'])
        try:
            fcntl.flock(fd_of(c), how)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return {}
    if op == 'pid': return {'pid': os.getpid()}
    raise ValueError(op)
print(json.dumps({'ready': os.getpid()}), flush=True)
for line in sys.stdin:
    c = json.loads(line)
    t0 = time.monotonic()
    try:
        out = run(c); out['ok'] = True
    except Alarm:
        out = {'ok': False, 'errno': 'EINTR'}
    except OSError as e:
        out = {'ok': False, 'errno': errno.errorcode.get(e.errno, str(e.errno))}
    out['ms'] = round((time.monotonic() - t0) * 1000, 1)
    print(json.dumps(out), flush=True)
`;

export interface Reply {
  ok: boolean;
  errno?: string;
  ms: number;
  type?: string;
  start?: number;
  len?: number;
  pid?: number;
}

export interface LockCmd {
  op: 'open' | 'close' | 'setlk' | 'setlkw' | 'getlk' | 'flock';
  fd?: number;
  type?: 'r' | 'w' | 'u';
  start?: number;
  len?: number;
  how?: 'sh' | 'ex' | 'un';
  nb?: boolean;
  alarm?: number; // seconds until SIGALRM interrupts the call
}

/** One python3 process locking `path`; stopped (SIGKILL, by PID) at teardown. */
export class Agent {
  private readonly replies: ((r: Reply) => void)[] = [];
  private constructor(readonly proc: ChildProcess, readonly pid: number) {}

  static async start(t: TestLike, path: string): Promise<Agent> {
    const proc = spawn('python3', ['-c', AGENT, path], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
    const lines = createInterface({ input: proc.stdout! });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      proc.once('exit', (c) => reject(new Error(`lock agent exited (${c})`)));
    });
    const agent = new Agent(proc, (JSON.parse(first) as { ready: number }).ready);
    lines.on('line', (l) => agent.replies.shift()?.(JSON.parse(l) as Reply));
    return agent;
  }

  /** Sends a command; resolves with its reply (commands are answered in order). */
  send(cmd: LockCmd): Promise<Reply> {
    const p = new Promise<Reply>((resolve) => this.replies.push(resolve));
    this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
    return p;
  }

  kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGKILL');
    return gone;
  }
}

/** Resolves with the value, or with 'pending' if it has not settled within `ms`. */
export function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<'pending'>((r) => (timer = setTimeout(() => r('pending'), ms)))]).finally(() => clearTimeout(timer));
}
