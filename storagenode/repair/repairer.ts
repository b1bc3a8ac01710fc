import type { Logger } from '../../shared/log.js';
import type { RepairRound } from '../../shared/protocol/ops.js';
import type { NodeInfo } from '../../shared/types.js';
import type { BlockStore } from '../blocks/block-store.js';
import { exclusions, planPage, type BlockCensus, type PlacementView, type RepairAction } from './plan.js';

export interface RepairerDeps {
  selfId: string;
  replicas: number;
  blocks: BlockStore;
  members(): NodeInfo[];
  /** The leader's exclusions (repairView), or this node's own guess when no leader answers. */
  view(): Promise<{ lost: string[]; draining: string[] }>;
  /** Referenced block ids from this node's metadata replica, in id order. */
  referenced(after: string | undefined, limit: number): Promise<string[]>;
  /** Which of `ids` a peer holds; rejects if it does not answer. */
  peerHas(id: string, ids: string[]): Promise<boolean[]>;
  /** A verified copy of a block from one of `sources`, or null if none could give one. */
  fetch(id: string, sources: string[]): Promise<{ data: Uint8Array; from: string } | null>;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Copy rate bound, so repair never starves clients of disk and network. */
  bytesPerSec: number;
  pageSize?: number;
  log: Logger;
}

/**
 * Anti-entropy repair (docs/operations.md explains the choice over hinted handoff). A round walks the
 * blocks this node's metadata says are referenced, page by page; for each page it asks every member
 * which of them it holds (one blockHas per member), and then, by plan.ts:
 *  - copies here each block this node is a placement target of but lacks (a node that was away or is
 *    new pulls what it missed; when a node is lost or drained, the new targets pull its blocks);
 *  - deletes here each block this node holds but is not a target of, once every target holds it
 *    (substitute copies written while a node was down, and copies on a draining node).
 * It also counts, for status, the blocks that are under-replicated or missing cluster-wide.
 */
export class Repairer {
  private round = 0;
  current: RepairRound | null = null;
  last: RepairRound | null = null;
  private stopRequested = false;
  private running: Promise<RepairRound> | null = null;

  constructor(private readonly d: RepairerDeps) {}

  runRound(): Promise<RepairRound> {
    this.stopRequested = false;
    this.running ??= this.doRound().finally(() => (this.running = null));
    return this.running;
  }

  stop(): void {
    this.stopRequested = true;
  }

  private async doRound(): Promise<RepairRound> {
    const r: RepairRound = {
      round: ++this.round, startedAtMs: this.d.now(), tookMs: 0, done: false,
      referenced: 0, underReplicated: 0, missing: 0, misplaced: 0, held: 0, fetched: 0, fetchedBytes: 0, dropped: 0,
    };
    this.current = r;
    try {
      const v = await this.d.view();
      const members = this.d.members();
      const view: PlacementView = { members, excluded: exclusions(members, v.lost, v.draining, this.d.replicas), replicas: this.d.replicas };
      let after: string | undefined;
      for (;;) {
        if (this.stopRequested) throw new Error('stopped');
        const ids = await this.d.referenced(after, this.d.pageSize ?? 256);
        if (ids.length === 0) break;
        await this.page(ids, view, r);
        after = ids[ids.length - 1];
      }
      r.done = true;
    } catch (e) {
      r.error = (e as Error).message;
    }
    r.tookMs = this.d.now() - r.startedAtMs;
    this.current = null;
    this.last = r;
    this.report(r);
    return r;
  }

  private async page(ids: string[], view: PlacementView, r: RepairRound): Promise<void> {
    const { census, reachable } = await this.census(ids, view.members);
    const plan = planPage(this.d.selfId, view, census, reachable);
    r.referenced += plan.counts.referenced;
    r.underReplicated += plan.counts.underReplicated;
    r.missing += plan.counts.missing;
    r.misplaced += plan.counts.misplaced;
    r.held += plan.counts.held;
    await this.execute(plan.actions, r);
  }

  /** Asks every member (this node included) which of `ids` it holds; members that do not answer hold nothing. */
  private async census(ids: string[], members: readonly NodeInfo[]): Promise<{ census: BlockCensus[]; reachable: Set<string> }> {
    const holders = ids.map(() => new Set<string>());
    const reachable = new Set<string>();
    await Promise.all(members.map(async (m) => {
      let have: boolean[];
      try {
        have = m.id === this.d.selfId ? await Promise.all(ids.map((id) => this.d.blocks.has(id))) : await this.d.peerHas(m.id, ids);
      } catch {
        return;
      }
      if (have.length !== ids.length) return;
      reachable.add(m.id);
      have.forEach((h, i) => { if (h) holders[i]!.add(m.id); });
    }));
    return { census: ids.map((id, i) => ({ id, holders: holders[i]! })), reachable };
  }

  private async execute(actions: RepairAction[], r: RepairRound): Promise<void> {
    const drops: string[] = [];
    for (const a of actions) {
      if (this.stopRequested) throw new Error('stopped');
      if (a.kind === 'drop') {
        drops.push(a.id);
        continue;
      }
      const got = await this.d.fetch(a.id, a.from);
      if (!got) {
        this.d.log.warn(`repair: could not copy block ${a.id} from ${a.from.join(',')}; the next round retries`);
        continue;
      }
      await this.d.blocks.put(a.id, got.data);
      r.fetched++;
      r.fetchedBytes += got.data.byteLength;
      if (r.fetched % 100 === 0) this.d.log.info(`repair round ${r.round}: copied ${r.fetched} block(s) (${mib(r.fetchedBytes)}) so far`);
      await this.pace(r);
    }
    if (drops.length) {
      await this.d.blocks.delete(drops);
      r.dropped += drops.length;
    }
  }

  /** Sleeps until the bytes copied this round fit the rate bound. */
  private async pace(r: RepairRound): Promise<void> {
    const dueMs = r.startedAtMs + (r.fetchedBytes * 1000) / this.d.bytesPerSec;
    const waitMs = dueMs - this.d.now();
    if (waitMs > 0) await this.d.sleep(waitMs);
  }

  private report(r: RepairRound): void {
    const what = `${r.referenced} referenced block(s), ${r.underReplicated} under-replicated, ${r.missing} missing, ${r.misplaced} misplaced cop(ies); copied ${r.fetched} here (${mib(r.fetchedBytes)}), dropped ${r.dropped}, in ${(r.tookMs / 1000).toFixed(1)} s`;
    if (r.error) this.d.log.warn(`repair round ${r.round} stopped (${r.error}): ${what}`);
    else if (r.fetched || r.dropped || r.underReplicated || r.missing) this.d.log.info(`repair round ${r.round}: ${what}`);
    else this.d.log.debug(`repair round ${r.round}: ${what}`);
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
