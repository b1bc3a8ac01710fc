import { blockIdTimeMs } from '../../shared/block-id.js';
import type { OpArgs, OpName, OpResults } from '../../shared/protocol/ops.js';
import type { NodeInfo } from '../../shared/types.js';
import { copiesWanted, exclusions, targetsOf, type BlockCensus, type PlacementView } from './plan.js';

/**
 * `tidefs fsck`: checks that every block committed metadata names has a copy on each of its placement
 * targets (R healthy replicas), and that no unreferenced block is older than the GC grace period.
 * The classification is pure (tested); the runner asks the nodes and, with --repair, tells the
 * lacking targets to copy (blockRepair) and the holders of old orphans to delete them (blockDelete,
 * which re-checks both conditions on the node).
 */

export interface BlockFinding {
  id: string;
  lacking: string[]; // targets without a copy
  holders: string[];
}

/** Blocks with fewer copies on their targets than wanted (`holders` empty: lost everywhere reachable). */
export function underReplicated(census: readonly BlockCensus[], view: PlacementView): BlockFinding[] {
  const wanted = copiesWanted(view);
  const out: BlockFinding[] = [];
  for (const b of census) {
    const targets = targetsOf(b.id, view);
    const lacking = targets.filter((t) => !b.holders.has(t));
    if (targets.length - lacking.length < wanted) out.push({ id: b.id, lacking, holders: [...b.holders] });
  }
  return out;
}

/** Unreferenced blocks on a node older than the grace period (by their id's time): GC should have taken them. */
export function oldOrphans(ids: readonly string[], referenced: ReadonlySet<string>, nowMs: number, graceMs: number): string[] {
  return ids.filter((id) => !referenced.has(id) && nowMs - blockIdTimeMs(id) >= graceMs);
}

export interface FsckReport {
  members: string[];
  lost: string[]; // declared lost and excluded from placement: not asked
  unreachable: string[];
  referenced: number;
  under: BlockFinding[];
  orphans: Map<string, string[]>; // node → old orphan ids
  orphanCount: number;
}

export type Call = <O extends OpName>(node: NodeInfo, op: O, args: OpArgs<O>) => Promise<OpResults[O]>;

const PAGE = 1024;

/** Gathers the facts: referenced ids from the leader, what every member holds, and old orphans per member. */
export async function runFsck(call: Call, leader: NodeInfo, members: NodeInfo[], replicas: number, graceMs: number, nowMs: number): Promise<FsckReport> {
  const v = await call(leader, 'repairView', {});
  const view: PlacementView = { members, excluded: exclusions(members, v.lost, v.draining, replicas), replicas };
  // A node declared lost (and excluded) is not asked: its blocks are expected elsewhere.
  const asked = members.filter((m) => !(v.lost.includes(m.id) && view.excluded.has(m.id)));
  const unreachable = new Set<string>();
  const referenced = new Set<string>();
  const under: BlockFinding[] = [];
  for (let after: string | undefined; ;) {
    const { ids } = await call(leader, 'refList', { limit: PAGE, ...(after ? { after } : {}) });
    if (ids.length === 0) break;
    for (const id of ids) referenced.add(id);
    const holders = ids.map(() => new Set<string>());
    await Promise.all(asked.map(async (m) => {
      try {
        const { have } = await call(m, 'blockHas', { ids });
        have.forEach((h, i) => { if (h) holders[i]!.add(m.id); });
      } catch {
        unreachable.add(m.id);
      }
    }));
    under.push(...underReplicated(ids.map((id, i) => ({ id, holders: holders[i]! })), view));
    after = ids[ids.length - 1];
  }
  const orphans = new Map<string, string[]>();
  let orphanCount = 0;
  for (const m of asked) {
    if (unreachable.has(m.id)) continue;
    const found: string[] = [];
    try {
      for (let after: string | undefined; ;) {
        const { entries } = await call(m, 'blockList', { limit: PAGE, ...(after ? { after } : {}) });
        if (entries.length === 0) break;
        found.push(...oldOrphans(entries.map((e) => e.id), referenced, nowMs, graceMs));
        after = entries[entries.length - 1]!.id;
      }
    } catch {
      unreachable.add(m.id);
    }
    if (found.length) orphans.set(m.id, found);
    orphanCount += found.length;
  }
  return { members: members.map((m) => m.id), lost: members.filter((m) => !asked.includes(m)).map((m) => m.id), unreachable: [...unreachable].sort(), referenced: referenced.size, under, orphans, orphanCount };
}

/** With --repair: each lacking target copies the block from a good replica; old orphans are deleted where they are. */
export async function repairFindings(call: Call, members: NodeInfo[], r: FsckReport, log: (s: string) => void): Promise<{ copied: number; deleted: number; failed: number }> {
  const byId = new Map(members.map((m) => [m.id, m]));
  let copied = 0, deleted = 0, failed = 0;
  for (const f of r.under) {
    for (const t of f.lacking) {
      const node = byId.get(t);
      if (!node || r.unreachable.includes(t)) { failed++; continue; }
      try {
        const res = await call(node, 'blockRepair', { id: f.id });
        if (res.repaired) copied++;
        else failed++;
      } catch {
        failed++;
      }
    }
    if ((copied + failed) % 100 === 0 && copied + failed > 0) log(`fsck: ${copied} cop(ies) made so far`);
  }
  for (const [id, ids] of r.orphans) {
    for (let i = 0; i < ids.length; i += 4096) {
      const res = await call(byId.get(id)!, 'blockDelete', { ids: ids.slice(i, i + 4096) });
      deleted += res.deleted;
    }
  }
  return { copied, deleted, failed };
}

export function describeReport(r: FsckReport, graceMs: number): string[] {
  const lines = [`fsck: ${r.members.length} member(s) (${r.members.join(', ')}), ${r.referenced} referenced block(s)`];
  if (r.lost.length) lines.push(`fsck: ${r.lost.join(', ')} declared lost: not asked; their blocks must be on the other members`);
  if (r.unreachable.length) lines.push(`fsck: could not ask ${r.unreachable.join(', ')}: their copies are not counted`);
  const missing = r.under.filter((f) => f.holders.length === 0).length;
  lines.push(r.under.length === 0
    ? 'fsck: every referenced block has a copy on each of its placement targets (full redundancy)'
    : `fsck: ${r.under.length} block(s) lack copies on their placement targets (${missing} with no copy at all on any reachable node)`);
  for (const f of r.under.slice(0, 10)) lines.push(`  block ${f.id}: missing on ${f.lacking.join(', ')}; held by ${f.holders.join(', ') || 'nobody reachable'}`);
  lines.push(r.orphanCount === 0
    ? `fsck: no unreferenced block is older than the GC grace period (${Math.round(graceMs / 1000)} s)`
    : `fsck: ${r.orphanCount} unreferenced block(s) older than the GC grace period (${Math.round(graceMs / 1000)} s): ${[...r.orphans].map(([n, ids]) => `${ids.length} on ${n}`).join(', ')}`);
  return lines;
}

export function problems(r: FsckReport): number {
  return r.under.length + r.orphanCount + r.unreachable.length;
}
