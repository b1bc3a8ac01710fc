import { placeReplicas } from '../../shared/placement.js';
import type { NodeInfo } from '../../shared/types.js';

/**
 * The decisions of repair, rebalancing, draining and fsck, as pure functions (DESIGN.md invariant 4):
 * given the membership, the nodes excluded from placement (lost or draining) and who holds each block,
 * say where each block belongs, what this node must fetch or may drop, and what is under-replicated.
 * All I/O (asking nodes what they hold, copying, deleting) lives in repairer.ts, scrub.ts and fsck.ts.
 */

export interface PlacementView {
  members: readonly NodeInfo[];
  /** Lost and draining nodes: never placement targets, still read from while they answer. */
  excluded: ReadonlySet<string>;
  replicas: number;
}

/** The nodes that should hold block `id`: rendezvous placement over the members not excluded. */
export function targetsOf(id: string, view: PlacementView): string[] {
  const eligible = view.members.filter((m) => !view.excluded.has(m.id));
  if (eligible.length === 0) return [];
  return placeReplicas(id, eligible, Math.min(view.replicas, eligible.length)).map((m) => m.id);
}

/** Copies wanted per block: R, or fewer when fewer eligible members exist (a 2-node cluster keeps 2). */
export function copiesWanted(view: PlacementView): number {
  return Math.min(view.replicas, view.members.filter((m) => !view.excluded.has(m.id)).length);
}

/** What one census found about one block: the members that answered "I hold it". */
export interface BlockCensus {
  id: string;
  holders: ReadonlySet<string>;
}

export type RepairAction =
  | { kind: 'fetch'; id: string; from: string[] } // this node is a target without a copy: copy it here
  | { kind: 'drop'; id: string }; // this node is not a target and every target holds a copy

export interface PageCounts {
  referenced: number;
  underReplicated: number;
  missing: number;
  misplaced: number;
  held: number;
}

/**
 * Plans one page of a census for node `self`. `reachable` are the members whose answers the census
 * has: a member that did not answer is not counted as holding anything, so a block with a copy on a
 * down node counts as under-replicated (it is, for as long as the node is down).
 *
 * A drop needs every target reachable and holding the block: then R good copies exist without this
 * one, whatever the other nodes decide at the same moment (none of them drops a target's copy).
 */
export function planPage(self: string, view: PlacementView, census: readonly BlockCensus[], reachable: ReadonlySet<string>): { actions: RepairAction[]; counts: PageCounts } {
  const actions: RepairAction[] = [];
  const counts: PageCounts = { referenced: 0, underReplicated: 0, missing: 0, misplaced: 0, held: 0 };
  const wanted = copiesWanted(view);
  for (const b of census) {
    counts.referenced++;
    const targets = targetsOf(b.id, view);
    const onTargets = targets.filter((t) => b.holders.has(t)).length;
    if (onTargets < wanted) counts.underReplicated++;
    if (b.holders.size === 0) counts.missing++;
    for (const h of b.holders) if (!targets.includes(h)) counts.misplaced++;
    if (b.holders.has(self)) counts.held++;
    if (targets.includes(self) && !b.holders.has(self) && b.holders.size > 0) {
      actions.push({ kind: 'fetch', id: b.id, from: sourcesFor(b, targets) });
    } else if (b.holders.has(self) && !targets.includes(self) && targets.length > 0 && targets.every((t) => reachable.has(t) && b.holders.has(t))) {
      actions.push({ kind: 'drop', id: b.id });
    }
  }
  return { actions, counts };
}

/** Where to copy from: holders that are targets first (they stay), then the rest (misplaced copies). */
export function sourcesFor(b: BlockCensus, targets: readonly string[]): string[] {
  const hs = [...b.holders];
  return [...hs.filter((h) => targets.includes(h)), ...hs.filter((h) => !targets.includes(h))];
}

/**
 * Members declared lost: unreachable (by this node's pings) for at least `lostAfterMs`. The leader's
 * answer is the cluster's (repairView); a node without a leader uses its own.
 */
export function lostMembers(members: readonly NodeInfo[], self: string, downSinceMs: ReadonlyMap<string, number>, nowMs: number, lostAfterMs: number): string[] {
  return members
    .filter((m) => m.id !== self)
    .filter((m) => {
      const since = downSinceMs.get(m.id);
      return since !== undefined && nowMs - since >= lostAfterMs;
    })
    .map((m) => m.id)
    .sort();
}

/**
 * Draining nodes whose lease is still running: a drain lapses unless the `tidefs node remove` that
 * started it keeps renewing it, so a drain abandoned by a dead CLI does not exclude a node forever.
 */
export function liveDrains(drains: ReadonlyMap<string, number>, members: readonly NodeInfo[], nowMs: number): string[] {
  return [...drains].filter(([id, until]) => until > nowMs && members.some((m) => m.id === id)).map(([id]) => id).sort();
}

/**
 * The exclusions placement applies. Draining nodes always (the operator asked). A lost node only
 * while the rest still number R or more: excluding it from a 3-node cluster with R=3 would just lower
 * the copies wanted to 2 and hide the missing third copy; it then stays a target and its blocks count
 * as under-replicated until it returns or a node is added.
 */
export function exclusions(members: readonly NodeInfo[], lost: readonly string[], draining: readonly string[], replicas: number): Set<string> {
  const out = new Set(draining.filter((id) => members.some((m) => m.id === id)));
  for (const id of lost) {
    if (out.has(id) || !members.some((m) => m.id === id)) continue;
    if (members.length - out.size - 1 >= replicas) out.add(id);
  }
  return out;
}

/** A drain is complete when a full round, started after the drain began, found no copy left on it to move. */
export function drainComplete(round: { done: boolean; startedAtMs: number; held: number; underReplicated: number; error?: string } | null, drainStartedAtMs: number): boolean {
  return round !== null && round.done && round.error === undefined && round.startedAtMs > drainStartedAtMs && round.held === 0 && round.underReplicated === 0;
}
