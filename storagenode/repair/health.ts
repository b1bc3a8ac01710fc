import type { Logger } from '../../shared/log.js';
import type { NodeInfo } from '../../shared/types.js';
import { exclusions, liveDrains, lostMembers } from './plan.js';

export interface HealthDeps {
  selfId: string;
  replicas: number;
  members(): NodeInfo[];
  /** A cheap request to a peer that must answer within `timeoutMs` (a paused node never does). */
  ping(id: string, timeoutMs: number): Promise<void>;
  now(): number;
  lostAfterMs: number;
  log: Logger;
}

/** How long a drain stays in force without a renewal from the `tidefs node remove` driving it. */
export const DRAIN_LEASE_MS = 60_000;

/**
 * This node's view of which members are down (no answer to a ping within a second) and since when,
 * and, on the leader, which nodes are being drained. A ping rather than the peer link's state: the
 * link to a SIGSTOPped node stays open, but the node answers nothing.
 */
export class Health {
  private readonly downSince = new Map<string, number>();
  private readonly drains = new Map<string, { untilMs: number; sinceMs: number }>();
  private announcedLost = new Set<string>();

  constructor(private readonly d: HealthDeps) {}

  async pingAll(timeoutMs = 1000): Promise<void> {
    const others = this.d.members().filter((m) => m.id !== this.d.selfId);
    for (const id of this.downSince.keys()) if (!others.some((m) => m.id === id)) this.downSince.delete(id);
    await Promise.all(others.map(async (m) => {
      try {
        await this.d.ping(m.id, timeoutMs);
        if (this.downSince.has(m.id)) this.d.log.info(`${m.id} answers again after ${Math.round((this.d.now() - this.downSince.get(m.id)!) / 1000)} s`);
        this.downSince.delete(m.id);
      } catch {
        if (!this.downSince.has(m.id)) this.d.log.info(`${m.id} does not answer; it is declared lost if that lasts ${Math.round(this.d.lostAfterMs / 1000)} s`);
        if (!this.downSince.has(m.id)) this.downSince.set(m.id, this.d.now());
      }
    }));
    this.announce();
  }

  private announce(): void {
    const lost = new Set(this.lost());
    for (const id of lost) if (!this.announcedLost.has(id)) this.d.log.warn(`${id} declared lost: unreachable for ${Math.round(this.d.lostAfterMs / 1000)} s or more; its blocks get new homes`);
    for (const id of this.announcedLost) if (!lost.has(id)) this.d.log.info(`${id} is no longer lost`);
    this.announcedLost = lost;
  }

  isDown(id: string): boolean {
    return this.downSince.has(id);
  }

  lost(): string[] {
    return lostMembers(this.d.members(), this.d.selfId, this.downSince, this.d.now(), this.d.lostAfterMs);
  }

  /** Starts or renews a drain (leader only; the CLI renews it while it waits). */
  drain(id: string, action: 'start' | 'stop'): string[] {
    const now = this.d.now();
    if (action === 'stop') {
      if (this.drains.delete(id)) this.d.log.info(`drain of ${id} stopped`);
    } else {
      const prev = this.drains.get(id);
      if (!prev || prev.untilMs <= now) this.d.log.info(`draining ${id}: its blocks move to the other members`);
      this.drains.set(id, { untilMs: now + DRAIN_LEASE_MS, sinceMs: prev && prev.untilMs > now ? prev.sinceMs : now });
    }
    return this.draining();
  }

  draining(): string[] {
    const until = new Map([...this.drains].map(([id, d]) => [id, d.untilMs]));
    return liveDrains(until, this.d.members(), this.d.now());
  }

  /** The leader's answer to repairView: what placement skips. */
  view(): { lost: string[]; draining: string[] } {
    const draining = this.draining();
    const lost = this.lost();
    const ex = exclusions(this.d.members(), lost, draining, this.d.replicas);
    return { lost: lost.filter((id) => ex.has(id)), draining };
  }
}
