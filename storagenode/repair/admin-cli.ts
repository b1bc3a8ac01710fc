import { silentLogger } from '../../shared/log.js';
import { BLOCK_GC_GRACE_MS_DEFAULT, REPLICAS_DEFAULT } from '../../shared/limits.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/handshake.js';
import type { NodeStatus, OpArgs, OpName, OpResults, RepairRound, RepairStatus } from '../../shared/protocol/ops.js';
import { RpcConnection } from '../../shared/rpc/connection.js';
import type { NodeInfo } from '../../shared/types.js';
import { describeReport, problems, repairFindings, runFsck } from './fsck.js';
import { mib } from './repairer.js';

/** `tidefs fsck`, `tidefs node add` and `tidefs node remove` (storagenode/cli.ts parses and dispatches). */

export type CallLeader = <O extends OpName>(urls: string[], cluster: string, op: O, args: OpArgs<O>) => Promise<OpResults[O]>;
const out = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function connect(url: string, cluster: string): Promise<RpcConnection> {
  return RpcConnection.connect({
    url, connectTimeoutMs: 2000, logger: silentLogger,
    hello: { protocol: PROTOCOL_VERSION, cluster, role: 'admin', client: 'tidefs-cli' },
  });
}

async function callUrl<O extends OpName>(url: string, cluster: string, op: O, args: OpArgs<O>, timeoutMs = 30_000): Promise<OpResults[O]> {
  const c = await connect(url, cluster);
  try {
    return await c.call(op, args, { timeoutMs });
  } finally {
    c.close();
  }
}

/** The status of every URL that answers; the leader's first. */
async function statuses(urls: string[], cluster: string): Promise<NodeStatus[]> {
  const all = await Promise.all(urls.map((u) => callUrl(u, cluster, 'status', {}, 3000).then((s) => ({ ...s, url: u }), () => null)));
  const sts = all.filter((s): s is NodeStatus => s !== null); // url: where this command reached the node
  return sts.sort((a, b) => (b.role === 'leader' ? 1 : 0) - (a.role === 'leader' ? 1 : 0) || b.term - a.term);
}

export function describeRound(r: RepairRound | null, nowMs: number): string {
  if (!r) return 'no repair round yet';
  const age = r.done ? `done ${Math.round((nowMs - r.startedAtMs - r.tookMs) / 1000)} s ago` : r.error ? `stopped (${r.error})` : 'running';
  return `round ${r.round} ${age}: ${r.referenced} referenced, ${r.underReplicated} under-replicated, ${r.missing} missing, ` +
    `${r.misplaced} misplaced; copied ${r.fetched} here (${mib(r.fetchedBytes)}), dropped ${r.dropped}`;
}

/** The lines `tidefs status` prints under its table: repair and scrub progress per node. */
export function formatRepairLines(rows: { st?: NodeStatus }[], nowMs: number): string[] {
  const lines: string[] = [];
  for (const { st } of rows) {
    const rp: RepairStatus | undefined = st?.repair;
    if (!st || !rp) continue;
    const cur = rp.current ? `; now ${describeRound(rp.current, nowMs)}` : '';
    const s = rp.scrub;
    lines.push(`${st.node}: repair ${describeRound(rp.last, nowMs)}${cur}`);
    lines.push(`${st.node}: scrub pass ${s.pass}${s.running ? ' running' : ''}: ${s.checked}/${s.total} checked (${mib(s.bytes)}), ${s.corrupt} corrupt, ${s.repaired} repaired`);
  }
  const leader = rows.find((r) => r.st?.role === 'leader')?.st?.repair;
  if (leader) lines.push(`lost: ${leader.lost.join(', ') || 'none'}; draining: ${leader.draining.join(', ') || 'none'}`);
  const under = rows.map((r) => r.st?.repair?.last?.underReplicated).filter((n): n is number => n !== undefined);
  if (under.length) lines.push(`under-replicated blocks (largest count of the nodes' last rounds): ${Math.max(...under)}`);
  return lines;
}

export async function fsckCmd(urls: string[], cluster: string, opts: { repair: boolean; graceMs?: number }): Promise<number> {
  let sts: NodeStatus[] = [];
  let leaderSt: NodeStatus | undefined;
  for (const end = Date.now() + 15_000; !leaderSt && Date.now() < end; await sleep(leaderSt ? 0 : 500)) {
    sts = await statuses(urls, cluster); // an election may be under way: wait a little for a leader
    leaderSt = sts.find((s) => s.role === 'leader');
  }
  if (!leaderSt) {
    out('fsck: no leader answered within 15 s; cannot check');
    return 1;
  }
  // A node is asked at the URL it answered on here, if any: the leader's member URLs are what it dials,
  // which behind proxies or NAT may not be what this command can reach.
  const reached = new Map(sts.map((s) => [s.node, s.url]));
  const members: NodeInfo[] = leaderSt.members.map((m) => ({ id: m.id, url: reached.get(m.id) ?? m.url, ...(m.zone ? { zone: m.zone } : {}) }));
  const leader = members.find((m) => m.id === leaderSt.node)!;
  const graceMs = opts.graceMs ?? BLOCK_GC_GRACE_MS_DEFAULT;
  const call = <O extends OpName>(n: NodeInfo, op: O, args: OpArgs<O>) => callUrl(n.url, cluster, op, args, 60_000);
  const replicas = await connect(leader.url, cluster).then((c) => { c.close(); return c.helloReply.replicas; }, () => REPLICAS_DEFAULT);
  let report = await runFsck(call, leader, members, replicas, graceMs, Date.now());
  for (const l of describeReport(report, graceMs)) out(l);
  if (opts.repair && problems(report) > 0) {
    const fixed = await repairFindings(call, members, report, out);
    out(`fsck --repair: made ${fixed.copied} cop(ies), deleted ${fixed.deleted} old orphan(s), ${fixed.failed} cop(ies) failed; checking again`);
    report = await runFsck(call, leader, members, replicas, graceMs, Date.now());
    for (const l of describeReport(report, graceMs)) out(l);
  }
  const n = problems(report);
  out(n === 0 ? 'fsck: clean' : `fsck: ${n} problem(s) remain`);
  return n === 0 ? 0 : 1;
}

/** Waits until a repair round that started after `sinceRound` on the leader finds nothing under-replicated. */
async function waitRebalanced(urls: string[], cluster: string, what: string, timeoutMs: number, renew?: () => Promise<unknown>): Promise<boolean> {
  let base: { node: string; round: number } | null = null;
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    await renew?.();
    const sts = await statuses(urls, cluster);
    const l = sts.find((s) => s.role === 'leader') ?? sts[0]; // the leader may be the node being drained
    const rp = l?.repair;
    if (l && rp) {
      const seen = rp.current?.round ?? rp.last?.round ?? 0;
      if (!base || base.node !== l.node) base = { node: l.node, round: seen };
      const last = rp.last;
      out(`${what}: ${describeRound(last, Date.now())}${rp.current ? ` (round ${rp.current.round} running: ${rp.current.referenced} examined, ${rp.current.fetched} copied)` : ''}`);
      if (last && last.round > base.round && last.done && last.underReplicated === 0 && last.missing === 0) return true;
    }
    await sleep(2000);
  }
  return false;
}

export async function nodeAddCmd(member: NodeInfo, urls: string[], cluster: string, callLeader: CallLeader, wait: boolean): Promise<number> {
  const res = await callLeader(urls, cluster, 'memberAdd', { id: member.id, url: member.url, ...(member.zone ? { zone: member.zone } : {}) });
  out(`members now: ${res.members.map((m) => `${m.id}=${m.url}`).join(',')}`);
  if (!wait) return 0;
  const all = [...new Set([...urls, ...res.members.map((m) => m.url)])];
  const ok = await waitRebalanced(all, cluster, `rebalancing onto ${member.id}`, 3600_000);
  out(ok ? `node ${member.id} added; every referenced block has R copies on its new placement` : `node ${member.id} added; rebalancing still running (see tidefs status)`);
  return ok ? 0 : 1;
}

export async function nodeRemoveCmd(id: string, urls: string[], cluster: string, callLeader: CallLeader, timeoutMs: number): Promise<number> {
  const sts = await statuses(urls, cluster);
  const members = sts[0]?.members ?? [];
  if (!members.some((m) => m.id === id)) {
    out(`node ${id} is not a member (members: ${members.map((m) => m.id).join(', ') || 'unknown'})`);
    return 1;
  }
  const all = [...new Set([...urls, ...members.map((m) => m.url)])];
  const others = all.filter((u) => u !== members.find((m) => m.id === id)?.url);
  out(`draining ${id}: its blocks move to the other members first`);
  const drained = await waitRebalanced(others, cluster, `draining ${id}`, timeoutMs, () => callLeader(others, cluster, 'nodeDrain', { id, action: 'start' }));
  if (!drained) {
    await callLeader(others, cluster, 'nodeDrain', { id, action: 'stop' }).catch(() => {});
    out(`drain of ${id} did not finish in ${Math.round(timeoutMs / 1000)} s; it stays a member`);
    return 1;
  }
  const res = await callLeader(others, cluster, 'memberRemove', { id });
  await callLeader(others, cluster, 'nodeDrain', { id, action: 'stop' }).catch(() => {});
  out(`node ${id} removed; members now: ${res.members.map((m) => `${m.id}=${m.url}`).join(',')}. Its process may be stopped now.`);
  return 0;
}
