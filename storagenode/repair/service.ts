import { blockIdTimeMs } from '../../shared/block-id.js';
import { BLOCK_GC_GRACE_MS_DEFAULT } from '../../shared/limits.js';
import type { Logger } from '../../shared/log.js';
import type { OpArgs, OpName, OpResults, RepairStatus } from '../../shared/protocol/ops.js';
import type { NodeInfo } from '../../shared/types.js';
import type { BlockStore } from '../blocks/block-store.js';
import { Health } from './health.js';
import { targetsOf } from './plan.js';
import { Repairer } from './repairer.js';
import { Scrubber } from './scrub.js';

export interface RepairServiceDeps {
  selfId: string;
  replicas: number;
  blocks: BlockStore;
  members(): NodeInfo[];
  leader(): string | null;
  referencedBlocks(after: string | undefined, limit: number): Promise<string[]>;
  /** Linearizable, via the leader: whether committed metadata names each block. */
  isReferenced(ids: string[]): Promise<boolean[]>;
  call<O extends OpName>(to: string, op: O, args: OpArgs<O>, timeoutMs?: number): Promise<OpResults[O]>;
  now(): number;
  log: Logger;
  lostAfterMs: number;
  repairEveryMs: number;
  repairBytesPerSec: number;
  scrubEveryMs: number;
  scrubBytesPerSec: number;
  gcGraceMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** The node's repair side: health pings, anti-entropy rounds, scrub passes, and the ops they serve. */
export class RepairService {
  readonly health: Health;
  readonly repairer: Repairer;
  readonly scrubber: Scrubber;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(private readonly d: RepairServiceDeps) {
    this.health = new Health({
      selfId: d.selfId, replicas: d.replicas, members: d.members, now: d.now, lostAfterMs: d.lostAfterMs, log: d.log,
      ping: async (id, timeoutMs) => { await d.call(id, 'blockHas', { ids: [] }, timeoutMs); },
    });
    this.repairer = new Repairer({
      selfId: d.selfId, replicas: d.replicas, blocks: d.blocks, members: d.members, now: d.now, sleep, log: d.log,
      bytesPerSec: d.repairBytesPerSec, view: () => this.clusterView(), referenced: d.referencedBlocks,
      peerHas: async (id, ids) => (await d.call(id, 'blockHas', { ids }, 10_000)).have,
      fetch: (id, sources) => this.fetch(id, sources),
    });
    this.scrubber = new Scrubber({
      blocks: d.blocks, now: d.now, sleep, bytesPerSec: d.scrubBytesPerSec, log: d.log,
      repairBlock: async (id) => (await this.repairBlock(id)).repaired,
    });
  }

  start(): void {
    this.every(1000, 'health ping', () => this.health.pingAll());
    this.every(this.d.repairEveryMs, 'repair round', async () => { await this.repairer.runRound(); });
    this.every(this.d.scrubEveryMs, 'scrub pass', () => this.scrubber.runPass());
  }

  private every(ms: number, name: string, task: () => Promise<void>): void {
    let running = false;
    const t = setInterval(() => {
      if (running || this.stopped) return;
      running = true;
      task().catch((e: Error) => this.d.log.warn(`${name} failed: ${e.message}`)).finally(() => (running = false));
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.repairer.stop();
    this.scrubber.stop();
  }

  /** The leader's exclusions; this node's own lost list (and no drains) when the leader cannot be asked. */
  async clusterView(): Promise<{ lost: string[]; draining: string[] }> {
    const leader = this.d.leader();
    if (leader === this.d.selfId) return this.health.view();
    if (leader) {
      try {
        return await this.d.call(leader, 'repairView', {}, 5000);
      } catch (e) {
        this.d.log.debug(`repairView from ${leader}: ${(e as Error).message}`);
      }
    }
    return { lost: this.health.view().lost, draining: [] };
  }

  referencedBlocks(after: string | undefined, limit: number): Promise<string[]> {
    return this.d.referencedBlocks(after, limit);
  }

  status(): RepairStatus {
    const v = this.health.view();
    return { lost: v.lost, draining: v.draining, current: this.repairer.current, last: this.repairer.last, scrub: { ...this.scrubber.progress } };
  }

  /** A verified copy from the first source that has one (each source checks the checksum as it reads). */
  async fetch(id: string, sources: string[]): Promise<{ data: Uint8Array; from: string } | null> {
    for (const from of sources) {
      if (from === this.d.selfId) continue;
      try {
        const r = await this.d.call(from, 'blockGet', { id }, 30_000);
        return { data: r.data, from };
      } catch (e) {
        this.d.log.debug(`copy of ${id} from ${from} failed: ${(e as Error).message}`);
      }
    }
    return null;
  }

  /** Rewrites this node's copy of a block from a good replica: its placement targets first, then everyone. */
  async repairBlock(id: string): Promise<{ repaired: boolean; from: string | null }> {
    const members = this.d.members();
    const targets = targetsOf(id, { members, excluded: new Set(), replicas: this.d.replicas });
    const order = [...targets, ...members.map((m) => m.id).filter((m) => !targets.includes(m))];
    const got = await this.fetch(id, order);
    if (!got) return { repaired: false, from: null };
    await this.d.blocks.put(id, got.data);
    return { repaired: true, from: got.from };
  }

  /**
   * fsck --repair's orphan removal: only blocks older than the grace period that the leader says no
   * committed slice names.
   */
  async deleteOrphans(ids: string[]): Promise<{ deleted: number; kept: number }> {
    const graceMs = this.d.gcGraceMs ?? BLOCK_GC_GRACE_MS_DEFAULT;
    const now = this.d.now();
    // By the id's time: a commit may only name blocks younger than BLOCK_COMMIT_AGE_MS_MAX < grace,
    // so an old unreferenced block can never become referenced again, wherever it is stored.
    const old: string[] = [];
    for (const id of ids) if (now - blockIdTimeMs(id) >= graceMs && (await this.d.blocks.has(id))) old.push(id);
    const refs = old.length ? await this.d.isReferenced(old) : [];
    const garbage = old.filter((_, i) => refs[i] === false);
    if (garbage.length) {
      await this.d.blocks.delete(garbage);
      this.d.log.info(`fsck: deleted ${garbage.length} unreferenced block(s) older than the grace period`);
    }
    return { deleted: garbage.length, kept: ids.length - garbage.length };
  }
}
