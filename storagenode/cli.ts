import { silentLogger } from '../shared/log.js';
import { CLUSTER_ID_DEFAULT, PROTOCOL_VERSION } from '../shared/protocol/handshake.js';
import type { NodeStatus, OpArgs, OpName, OpResults } from '../shared/protocol/ops.js';
import { RpcConnection } from '../shared/rpc/connection.js';
import { RpcError } from '../shared/rpc/rpc-error.js';
import { NODE_USAGE, parsePeers } from './config.js';
import { formatRepairLines, fsckCmd, nodeAddCmd, nodeRemoveCmd } from './repair/admin-cli.js';

const USAGE = `usage:
  tidefs node --id ID --listen HOST:PORT --data DIR --peers ID=ws://HOST:PORT,... [options]   (tidefs node --help)
  tidefs status URL[,URL...] [--cluster NAME]
  tidefs member add ID=ws://HOST:PORT URL[,URL...] [--zone ZONE] [--cluster NAME]
  tidefs member remove ID URL[,URL...] [--cluster NAME]
  tidefs node add ID=ws://HOST:PORT URL[,URL...] [--zone ZONE] [--no-wait] [--cluster NAME]   add, then follow the rebalance
  tidefs node remove ID URL[,URL...] [--timeout-ms MS] [--cluster NAME]                        drain, then remove
  tidefs fsck URL[,URL...] [--repair] [--gc-grace-ms MS] [--cluster NAME]`;

class UsageError extends Error {}

/** Splits `--name value` options (only those in `known`) from positional arguments. */
function splitArgs(argv: string[], known: string[]): { pos: string[]; opts: Record<string, string> } {
  const pos: string[] = [];
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      pos.push(a);
      continue;
    }
    const [k, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!known.includes(k)) throw new UsageError(`unknown option --${k}`);
    const v = inline ?? argv[++i];
    if (v === undefined) throw new UsageError(`option --${k} needs a value`);
    opts[k] = v;
  }
  return { pos, opts };
}

function splitUrls(s: string | undefined): string[] {
  const urls = (s ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  if (!urls.length) throw new UsageError('give at least one node URL (ws://HOST:PORT)');
  for (const u of urls) if (!/^wss?:\/\//.test(u)) throw new UsageError(`"${u}" is not a ws:// URL`);
  return urls;
}

async function connect(url: string, cluster: string): Promise<RpcConnection> {
  return RpcConnection.connect({
    url, connectTimeoutMs: 2000, logger: silentLogger,
    hello: { protocol: PROTOCOL_VERSION, cluster, role: 'admin', client: 'tidefs-cli' },
  });
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)}${units[i]}`;
}

/** One line per node. Headers are upper case so the word "leader" appears only if a node is one. */
export function formatStatusTable(rows: { url: string; st?: NodeStatus; err?: string }[]): string {
  const head = ['NODE', 'URL', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LEADER-ID', 'REACHABLE', 'BLOCKS', 'DISK-FREE/TOTAL'];
  const lines = rows.map(({ url, st, err }) => {
    if (!st) return ['?', url, 'down', '-', '-', '-', '-', `no (${err ?? 'unreachable'})`, '-', '-'];
    const peersUp = st.members.filter((m) => m.reachable).length;
    return [
      st.node, url, st.role, String(st.term), String(st.commitIndex), String(st.appliedIndex), st.leader ?? '-',
      `yes (sees ${peersUp}/${st.members.length})`, `${st.blocks.count} (${human(st.blocks.bytes)})`,
      `${human(st.disk.freeBytes)}/${human(st.disk.totalBytes)}`,
    ];
  });
  const all = [head, ...lines];
  const widths = head.map((_, c) => Math.max(...all.map((r) => r[c]!.length)));
  return all.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}

async function statusCmd(argv: string[]): Promise<number> {
  const { pos, opts } = splitArgs(argv, ['cluster']);
  if (pos.length !== 1) throw new UsageError('status takes one argument: URL[,URL...]');
  const urls = splitUrls(pos[0]);
  const rows = await Promise.all(urls.map(async (url) => {
    try {
      const c = await connect(url, opts.cluster ?? CLUSTER_ID_DEFAULT);
      try {
        return { url, st: await c.call('status', {}, { timeoutMs: 2000 }) };
      } finally {
        c.close();
      }
    } catch (e) {
      return { url, err: (e instanceof RpcError ? e.message : String(e)).replace(/^UNAVAILABLE: cannot reach \S+: /, '') };
    }
  }));
  process.stdout.write(formatStatusTable(rows) + '\n');
  for (const l of formatRepairLines(rows, Date.now())) process.stdout.write(`${l}\n`);
  return rows.some((r) => r.st) ? 0 : 1;
}

/** Sends an admin op to the leader, following NOT_LEADER redirects from whichever node answers. */
export async function callLeader<O extends OpName>(urls: string[], cluster: string, op: O, args: OpArgs<O>): Promise<OpResults[O]> {
  const tried = new Set<string>();
  const queue = [...urls];
  let last: unknown = new Error('no node reachable');
  for (let hops = 0; queue.length && hops < 10; hops++) {
    const url = queue.shift()!;
    if (tried.has(url)) continue;
    tried.add(url);
    try {
      const c = await connect(url, cluster);
      try {
        return await c.call(op, args, { timeoutMs: 15_000 });
      } finally {
        c.close();
      }
    } catch (e) {
      last = e;
      if (e instanceof RpcError && e.code === 'NOT_LEADER' && e.leader && !tried.has(e.leader)) queue.unshift(e.leader);
      else if (!(e instanceof RpcError && (e.code === 'UNAVAILABLE' || e.code === 'NOT_LEADER'))) throw e;
    }
  }
  throw last;
}

async function memberCmd(argv: string[]): Promise<number> {
  const { pos, opts } = splitArgs(argv, ['cluster', 'zone']);
  const [verb, who, urlList] = pos;
  const cluster = opts.cluster ?? CLUSTER_ID_DEFAULT;
  if (pos.length !== 3 || (verb !== 'add' && verb !== 'remove')) throw new UsageError('member takes: add ID=ws://HOST:PORT URLS | remove ID URLS');
  const urls = splitUrls(urlList);
  let res: { members: { id: string; url: string }[] };
  if (verb === 'add') {
    const [m] = parsePeers(who!);
    if (!m) throw new UsageError('member add needs ID=ws://HOST:PORT');
    res = await callLeader(urls, cluster, 'memberAdd', { id: m.id, url: m.url, ...(opts.zone ? { zone: opts.zone } : {}) });
  } else {
    res = await callLeader(urls, cluster, 'memberRemove', { id: who! });
  }
  process.stdout.write(`members now: ${res.members.map((m) => `${m.id}=${m.url}`).join(',')}\n`);
  return 0;
}

/** `tidefs node add|remove`: membership with data movement (storagenode/repair/admin-cli.ts). */
async function nodeMembershipCmd(argv: string[]): Promise<number> {
  const { pos, opts } = splitArgs(argv.filter((a) => a !== '--no-wait'), ['cluster', 'zone', 'timeout-ms']);
  const [verb, who, urlList] = pos;
  const cluster = opts.cluster ?? CLUSTER_ID_DEFAULT;
  if (pos.length !== 3) throw new UsageError('node takes: add ID=ws://HOST:PORT URLS | remove ID URLS');
  const urls = splitUrls(urlList);
  if (verb === 'add') {
    const [m] = parsePeers(who!);
    if (!m) throw new UsageError('node add needs ID=ws://HOST:PORT');
    return nodeAddCmd({ ...m, ...(opts.zone ? { zone: opts.zone } : {}) }, urls, cluster, callLeader, !argv.includes('--no-wait'));
  }
  return nodeRemoveCmd(who!, urls, cluster, callLeader, Number(opts['timeout-ms'] ?? 3600_000));
}

/** The storage-side commands of bin/tidefs. Returns the exit code (2 for usage errors). */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'node' && (rest[0] === 'add' || rest[0] === 'remove')) return await nodeMembershipCmd(rest);
    if (cmd === 'fsck') {
      const { pos, opts } = splitArgs(rest.filter((a) => a !== '--repair'), ['cluster', 'gc-grace-ms']);
      if (pos.length !== 1) throw new UsageError('fsck takes one argument: URL[,URL...]');
      const graceMs = opts['gc-grace-ms'] === undefined ? undefined : Number(opts['gc-grace-ms']);
      return await fsckCmd(splitUrls(pos[0]), opts.cluster ?? CLUSTER_ID_DEFAULT, { repair: rest.includes('--repair'), ...(graceMs ? { graceMs } : {}) });
    }
    if (cmd === 'node') {
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(`${NODE_USAGE}\n`);
        return 0;
      }
      // Loaded only here: status and member need neither LevelDB nor Raft.
      const { runNode } = await import('./main.js');
      return await runNode(rest);
    }
    if (cmd === 'status') return await statusCmd(rest);
    if (cmd === 'member') return await memberCmd(rest);
    throw new UsageError(cmd ? `unknown command "${cmd}"` : 'no command given');
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tidefs: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof RpcError) {
      process.stderr.write(`tidefs ${cmd}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
