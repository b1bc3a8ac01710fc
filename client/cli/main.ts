/**
 * `tidefs mount` and `tidefs umount`. bin/tidefs calls `main(argv)` with everything after `tidefs`,
 * the subcommand included:
 *   main(['mount', 'ws://h:7101,ws://h:7102', '/mnt/tidefs', '--strict', '--foreground'])
 *   main(['umount', '/mnt/tidefs'])
 * and the process exits with the returned code (a foreground mount resolves only once unmounted).
 *
 * mount flags: --strict (no kernel caching), --foreground (else it daemonizes: re-runs itself
 * detached with its log in a file, and returns once the mount is live), --cluster ID (default
 * $TIDEFS_CLUSTER or "tidefs"), --log FILE (daemon log), --debug (access log and libfuse debug),
 * --lease-ms MS (session lease, default 20000; docs/locking.md).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTER_ID_DEFAULT } from '../../shared/protocol/handshake.js';
import { runMount, type MountArgs } from './run-mount.js';

class UsageError extends Error {}

const USAGE = `usage: tidefs mount NODE_URL[,NODE_URL...] MOUNTPOINT [--strict] [--foreground] [--cluster ID] [--log FILE] [--debug] [--lease-ms MS]
       tidefs umount MOUNTPOINT`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'mount') return await mount(parseMount(rest));
    if (cmd === 'umount') return umount(rest);
    throw new UsageError(`unknown command ${cmd ?? '(none)'}`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tidefs: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`tidefs: ${(e as Error).message}\n`);
    return 1;
  }
}

function parseMount(args: string[]): MountArgs {
  const pos: string[] = [];
  const a: MountArgs = { urls: [], mountpoint: '', strict: false, foreground: false, debug: false, cluster: process.env.TIDEFS_CLUSTER ?? CLUSTER_ID_DEFAULT, logFile: '' };
  for (let i = 0; i < args.length; i++) {
    const x = args[i];
    if (x === '--strict') a.strict = true;
    else if (x === '--direct-io') a.directIo = true;
    else if (x === '--foreground' || x === '-f') a.foreground = true;
    else if (x === '--debug') a.debug = true;
    else if (x === '--lease-ms') {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 1000 || v > 3_600_000) throw new UsageError('--lease-ms needs a whole number of ms in [1000, 3600000]');
      a.leaseMs = v;
    } else if (x === '--cluster' || x === '--log') {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${x} needs a value`);
      if (x === '--cluster') a.cluster = v;
      else a.logFile = resolve(v);
    } else if (x.startsWith('-')) throw new UsageError(`unknown option ${x}`);
    else pos.push(x);
  }
  if (pos.length !== 2) throw new UsageError('mount needs NODE_URL[,NODE_URL...] and MOUNTPOINT');
  a.urls = pos[0].split(',').map((u) => u.trim()).filter(Boolean);
  for (const u of a.urls) if (!/^wss?:\/\/[^/]+/.test(u)) throw new UsageError(`"${u}" is not a node URL (ws://HOST:PORT)`);
  if (!a.urls.length) throw new UsageError('give at least one node URL');
  a.mountpoint = resolve(pos[1]);
  a.logFile ||= join(tmpdir(), `tidefs-mount-${basename(a.mountpoint)}-${process.pid}.log`);
  return a;
}

export function isMounted(mountpoint: string): boolean {
  try {
    const esc = mountpoint.replace(/ /g, '\\040');
    return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === esc);
  } catch {
    return false;
  }
}

export function findOnPath(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

/** The checks that give a clear message instead of a libfuse error later. */
function preflight(a: MountArgs): void {
  let st;
  try {
    st = statSync(a.mountpoint);
  } catch {
    throw new Error(`mountpoint ${a.mountpoint} does not exist (create it with mkdir)`);
  }
  if (!st.isDirectory()) throw new Error(`mountpoint ${a.mountpoint} is not a directory`);
  if (isMounted(a.mountpoint)) throw new Error(`${a.mountpoint} is already mounted (unmount it first: tidefs umount ${a.mountpoint})`);
  if (!existsSync('/dev/fuse')) throw new Error('/dev/fuse is missing: load the fuse kernel module (modprobe fuse) or give the container --device /dev/fuse');
  if (!findOnPath('fusermount') && !findOnPath('fusermount3')) throw new Error('fusermount is not installed: install the fuse3 package');
}

async function mount(a: MountArgs): Promise<number> {
  preflight(a);
  if (a.foreground) return runMount(a);
  return daemonize(a);
}

/** Re-runs this mount in the foreground as a detached child with its log in a file; returns once live. */
async function daemonize(a: MountArgs): Promise<number> {
  const entry = fileURLToPath(new URL('../main.js', import.meta.url));
  const out = openSync(a.logFile, 'a');
  const args = [entry, 'mount', a.urls.join(','), a.mountpoint, '--foreground', '--cluster', a.cluster, ...(a.strict ? ['--strict'] : []), ...(a.debug ? ['--debug'] : []), ...(a.directIo ? ['--direct-io'] : []),
    ...(a.leaseMs ? ['--lease-ms', String(a.leaseMs)] : [])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out] });
  let exited: number | null = null;
  child.on('exit', (code) => { exited = code ?? 1; });
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (isMounted(a.mountpoint)) {
      child.unref();
      process.stdout.write(`tidefs: mounted at ${a.mountpoint} (pid ${child.pid}, log ${a.logFile})\n`);
      return 0;
    }
    if (exited !== null) {
      const tail = readFileSync(a.logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
      process.stderr.write(`tidefs: mount failed (exit ${exited}); log ${a.logFile}:\n${tail}\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stderr.write(`tidefs: the mount did not come up in 90 s; see ${a.logFile}\n`);
  child.kill('SIGTERM');
  return 1;
}

function umount(args: string[]): number {
  if (args.length !== 1) throw new UsageError('umount needs MOUNTPOINT');
  const mnt = resolve(args[0]);
  if (!isMounted(mnt)) {
    process.stderr.write(`tidefs: ${mnt} is not mounted\n`);
    return 1;
  }
  const bin = findOnPath('fusermount') ?? findOnPath('fusermount3');
  if (!bin) throw new Error('fusermount is not installed: install the fuse3 package');
  const r = spawnSync(bin, ['-u', mnt], { encoding: 'utf8' });
  if (r.status !== 0) {
    const busy = /busy/i.test(r.stderr);
    process.stderr.write(`tidefs: cannot unmount ${mnt}: ${r.stderr.trim()}${busy ? ' (files are open there; close them, or `fusermount -uz` to detach lazily)' : ''}\n`);
    return 1;
  }
  return 0;
}
