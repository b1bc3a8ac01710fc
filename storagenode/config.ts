import { CLUSTER_ID_DEFAULT } from '../shared/protocol/handshake.js';
import { BLOCK_COMMIT_AGE_MS_MAX, REPLICAS_DEFAULT } from '../shared/limits.js';
import type { NodeInfo } from '../shared/types.js';
import { BLOCK_STORE_DEFAULT, BLOCK_STORE_KINDS, type BlockStoreKind } from './blocks/block-store.js';

/** Everything one storage node is started with; from flags, a JSON file with the same keys, or both. */
export interface NodeConfig {
  id: string;
  host: string; // where to listen
  port: number;
  data: string; // data directory: raft/, meta/, blocks/ below it
  peers: NodeInfo[]; // the initial membership, this node included
  cluster: string;
  replicas: number;
  snapshotEntries?: number;
  /** Entries kept behind a compaction for slow followers; a follower further behind gets a snapshot. */
  snapshotKeepEntries?: number;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** How often the leader proposes expireSessions. */
  expireEveryMs: number;
  /** How often every node runs one round of block GC. */
  gcEveryMs: number;
  gcGraceMs?: number;
  /**
   * How long a file unlinked while nobody had it registered open is kept before it is deleted: a
   * read-only open registers after it returns (docs/decisions.md), within this. Default 30 s.
   */
  orphanGraceMs?: number;
  /** How often the leader looks for unlinked files past their grace period. */
  reapEveryMs?: number;
  /** A member unreachable this long is declared lost: placement skips it and its blocks are copied elsewhere. */
  lostAfterMs: number;
  /** How often an anti-entropy repair round starts (storagenode/repair). */
  repairEveryMs: number;
  repairBytesPerSec: number;
  /** How often a scrub pass starts, and how fast it may read. */
  scrubEveryMs: number;
  scrubBytesPerSec: number;
  /** Joining an existing cluster: the Raft membership comes from the leader (after `tidefs node add`), not --peers. */
  join: boolean;
  /** Block store backend (storagenode/blocks/README.md); a data dir keeps the one it was made with. */
  blockStore: BlockStoreKind;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const NUMERIC_KEYS = ['snapshotEntries', 'snapshotKeepEntries', 'replicas', 'tickMs', 'electionTicks', 'heartbeatTicks', 'expireEveryMs', 'gcEveryMs', 'gcGraceMs', 'orphanGraceMs', 'reapEveryMs',
  'lostAfterMs', 'repairEveryMs', 'repairBytesPerSec', 'scrubEveryMs', 'scrubBytesPerSec'] as const;
const STRING_KEYS = ['id', 'listen', 'data', 'peers', 'cluster', 'config', 'join', 'blockStore'] as const;
const KEYS: ReadonlySet<string> = new Set<string>([...NUMERIC_KEYS, ...STRING_KEYS]);

/** `--snapshot-entries` → `snapshotEntries`, so flags and the JSON file share one set of names. */
function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Parses `--key value` / `--key=value` pairs; unknown or valueless flags are errors (exit 2). */
export function parseFlags(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new ConfigError(`unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    const key = camel(eq > 0 ? a.slice(2, eq) : a.slice(2));
    if (!KEYS.has(key)) throw new ConfigError(`unknown option --${eq > 0 ? a.slice(2, eq) : a.slice(2)}`);
    if (key === 'join' && eq < 0 && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) {
      out[key] = 'true'; // --join alone is a switch
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new ConfigError(`option ${a} needs a value`);
    out[key] = value;
  }
  return out;
}

/** "n1=ws://127.0.0.1:7101,n2=ws://..." → members. */
export function parsePeers(s: string): NodeInfo[] {
  const out: NodeInfo[] = [];
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--peers entry "${part}" is not ID=ws://HOST:PORT`);
    const id = part.slice(0, eq);
    const url = part.slice(eq + 1);
    if (!ID_RE.test(id)) throw new ConfigError(`node id "${id}" must be 1-64 letters, digits, _ . -`);
    if (!/^wss?:\/\/[^/\s]+(:\d+)?\/?$/.test(url)) throw new ConfigError(`peer url "${url}" must look like ws://HOST:PORT`);
    if (out.some((m) => m.id === id)) throw new ConfigError(`node id ${id} appears twice in --peers`);
    out.push({ id, url: url.replace(/\/$/, '') });
  }
  return out;
}

function parseListen(s: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(s);
  if (!m || !m[1]) throw new ConfigError(`--listen "${s}" must be HOST:PORT`);
  const port = Number(m[2]);
  if (port > 65535) throw new ConfigError(`--listen port ${port} is out of range`);
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

function parseBool(key: string, v: unknown): boolean {
  if (v === undefined || v === false || v === 'false') return false;
  if (v === true || v === 'true') return true;
  throw new ConfigError(`${key} must be true or false, not ${JSON.stringify(v)}`);
}

function parseBlockStore(v: unknown): BlockStoreKind {
  if (v === undefined) return BLOCK_STORE_DEFAULT;
  if ((BLOCK_STORE_KINDS as readonly unknown[]).includes(v)) return v as BlockStoreKind;
  throw new ConfigError(`--block-store must be ${BLOCK_STORE_KINDS.join(' or ')}, not ${JSON.stringify(v)}`);
}

function positiveInt(key: string, v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${key} must be a positive integer, not ${JSON.stringify(v)}`);
  return n;
}

/**
 * Builds the config from a JSON file's object (may be empty) overlaid with flags. Pure: the caller
 * reads the file, so this stays testable.
 */
export function buildConfig(file: Record<string, unknown>, flags: Record<string, string>): NodeConfig {
  for (const k of Object.keys(file)) if (!KEYS.has(k)) throw new ConfigError(`unknown key "${k}" in the config file`);
  const raw: Record<string, unknown> = { ...file, ...flags };
  for (const k of ['id', 'listen', 'data', 'peers'] as const) {
    if (raw[k] === undefined || raw[k] === '') throw new ConfigError(`--${k} is required`);
  }
  const id = String(raw.id);
  if (!ID_RE.test(id)) throw new ConfigError(`--id "${id}" must be 1-64 letters, digits, _ . -`);
  const peers = Array.isArray(raw.peers) ? parsePeers((raw.peers as string[]).join(',')) : parsePeers(String(raw.peers));
  if (!peers.some((p) => p.id === id)) throw new ConfigError(`--peers must name this node (${id}) with its own URL`);
  const cfg: NodeConfig = {
    id, ...parseListen(String(raw.listen)), data: String(raw.data), peers,
    cluster: raw.cluster === undefined ? CLUSTER_ID_DEFAULT : String(raw.cluster),
    replicas: raw.replicas === undefined ? REPLICAS_DEFAULT : positiveInt('replicas', raw.replicas),
    expireEveryMs: raw.expireEveryMs === undefined ? 2000 : positiveInt('expireEveryMs', raw.expireEveryMs),
    gcEveryMs: raw.gcEveryMs === undefined ? 60_000 : positiveInt('gcEveryMs', raw.gcEveryMs),
    lostAfterMs: raw.lostAfterMs === undefined ? 5 * 60_000 : positiveInt('lostAfterMs', raw.lostAfterMs),
    repairEveryMs: raw.repairEveryMs === undefined ? 30_000 : positiveInt('repairEveryMs', raw.repairEveryMs),
    repairBytesPerSec: raw.repairBytesPerSec === undefined ? 64 * 1024 * 1024 : positiveInt('repairBytesPerSec', raw.repairBytesPerSec),
    scrubEveryMs: raw.scrubEveryMs === undefined ? 6 * 3600_000 : positiveInt('scrubEveryMs', raw.scrubEveryMs),
    scrubBytesPerSec: raw.scrubBytesPerSec === undefined ? 16 * 1024 * 1024 : positiveInt('scrubBytesPerSec', raw.scrubBytesPerSec),
    join: parseBool('join', raw.join),
    blockStore: parseBlockStore(raw.blockStore),
  };
  for (const k of ['snapshotEntries', 'snapshotKeepEntries', 'tickMs', 'electionTicks', 'heartbeatTicks', 'gcGraceMs', 'orphanGraceMs', 'reapEveryMs'] as const) {
    if (raw[k] !== undefined) cfg[k] = positiveInt(k, raw[k]);
  }
  if (cfg.gcGraceMs !== undefined && cfg.gcGraceMs <= BLOCK_COMMIT_AGE_MS_MAX) {
    // A shorter grace could collect a block a slow writer is about to commit (BlockCollector asserts it).
    throw new ConfigError(`--gc-grace-ms ${cfg.gcGraceMs} must be above ${BLOCK_COMMIT_AGE_MS_MAX} (the age past which a commit may no longer name a block)`);
  }
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(cfg.cluster)) throw new ConfigError(`--cluster "${cfg.cluster}" must be 1-128 letters, digits, _ . -`);
  return cfg;
}

export const NODE_USAGE = `usage: tidefs node --id ID --listen HOST:PORT --data DIR --peers ID=ws://HOST:PORT,...
                   [--cluster NAME] [--config FILE.json] [--snapshot-entries N] [--snapshot-keep-entries N] [--replicas R]
                   [--tick-ms MS] [--election-ticks N] [--heartbeat-ticks N]
                   [--expire-every-ms MS] [--gc-every-ms MS] [--gc-grace-ms MS] [--orphan-grace-ms MS] [--reap-every-ms MS] [--join]
                   [--lost-after-ms MS] [--repair-every-ms MS] [--repair-bytes-per-sec N]
                   [--scrub-every-ms MS] [--scrub-bytes-per-sec N] [--block-store blob|level]
--join: a new node joining a running cluster (add it with \`tidefs node add\` on the cluster);
--orphan-grace-ms (default 30000): an unlinked file nobody has registered open is deleted this long after.
--lost-after-ms (default 300000): a member unreachable this long is declared lost and its blocks re-replicated.
--block-store (default ${BLOCK_STORE_DEFAULT}): how this node stores blocks; a data dir made with one backend refuses the other.
A config file holds the same keys as JSON (e.g. {"id": "n1", "listen": "127.0.0.1:7101", ...});
flags override it.`;
