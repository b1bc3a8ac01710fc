import type { NodeInfo } from '../../shared/types.js';
import { seededRng } from '../../storagenode/raft/rng.js';
import type { Ready } from '../../storagenode/raft/types.js';
import { Checker } from './checkers.js';
import { SimNetwork } from './sim-network.js';
import { SimDisk, SimNode, type SimImage } from './sim-node.js';

/** Time in the simulation is in units; a node ticks every TICK_UNITS units (SimClock). */
export const TICK_UNITS = 10;

export interface SimOptions {
  seed: number;
  nodes: number; // initial members
  faultTicks: number; // ticks of faults before healing
  convergeTicksMax: number; // after healing, the cluster must converge within this many ticks
  dropRate: number;
  dupRate: number;
  delayMax: number; // units
  crashRate: number; // per tick, for the whole cluster
  partitionRate: number; // per tick
  proposeRate: number; // per tick
  readRate: number; // per tick
  confRate: number; // per tick
  readyLagRate: number; // chance a node leaves its Ready unprocessed for a while (then a crash loses it)
  compactEvery: number;
  compactKeep: number;
  electionTicks: number;
  wire: boolean;
}

export class SimClock {
  now = 0;
  advance(units = 1): number {
    return (this.now += units);
  }
}

/** Derives the whole run's options from its seed, so "SEED=n" is all one needs to replay it. */
export function optionsFromSeed(seed: number, overrides: Partial<SimOptions> = {}): SimOptions {
  const r = seededRng(seed ^ 0x5eed);
  const pick = <T>(xs: T[]): T => xs[r.int(xs.length)]!;
  return {
    seed,
    nodes: pick([1, 3, 3, 3, 5, 5]),
    faultTicks: pick([200, 300, 400]),
    convergeTicksMax: 400,
    dropRate: pick([0, 0.01, 0.05, 0.15]),
    dupRate: pick([0, 0.02, 0.1]),
    delayMax: pick([2, 5, 10, 20]),
    crashRate: pick([0, 0.005, 0.02]),
    partitionRate: pick([0, 0.005, 0.02]),
    proposeRate: pick([0.2, 0.5, 1]),
    readRate: pick([0, 0.1, 0.3]),
    confRate: pick([0, 0, 0.01, 0.03]),
    readyLagRate: pick([0, 0.05, 0.2]),
    compactEvery: pick([8, 20, 50]),
    compactKeep: pick([0, 2, 10]),
    electionTicks: pick([5, 10]),
    wire: r.chance(0.25),
    ...overrides,
  };
}

export function describeOptions(o: SimOptions): string {
  return Object.entries(o).filter(([k]) => k !== 'seed').map(([k, v]) => `${k}=${v}`).join(' ');
}

export interface SimResult {
  seed: number;
  ticks: number;
  convergedAfterTicks: number;
  committed: number;
  elections: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  snapshotsInstalled: number;
  reads: number;
  messages: number;
  checks: number;
}

const info = (id: string): NodeInfo => ({ id, url: `sim://${id}` });

/** One seeded run: faults for faultTicks, then heal everything and demand convergence. */
export class SimCluster {
  readonly rng;
  readonly clock = new SimClock();
  readonly net: SimNetwork;
  readonly checker = new Checker();
  readonly nodes = new Map<string, SimNode>();
  /** Nodes that were removed from the configuration: still running, never counted. */
  private removed = new Set<string>();
  private nextId: number;
  private proposals = 0;
  private readCtx = 0;
  private pendingReads = new Map<string, Map<number, number>>();
  private lagging = new Set<string>();
  private restartAt = new Map<string, number>();
  private healAt = -1;
  readonly stats = { elections: 0, crashes: 0, partitions: 0, confChanges: 0, snapshotsInstalled: 0, reads: 0 };

  constructor(readonly o: SimOptions) {
    this.rng = seededRng(o.seed);
    this.net = new SimNetwork(this.rng, { dropRate: o.dropRate, dupRate: o.dupRate, delayMax: o.delayMax, wire: o.wire });
    const members = Array.from({ length: o.nodes }, (_, i) => info(`n${i + 1}`));
    this.nextId = o.nodes + 1;
    for (const m of members) this.addNode(m.id, members).start();
  }

  private addNode(id: string, bootstrap: NodeInfo[]): SimNode {
    const o = this.o;
    const node = new SimNode(id, new SimDisk(bootstrap), {
      electionTicks: o.electionTicks, heartbeatTicks: 1, seed: o.seed * 31 + Number(id.slice(1)),
      compactEvery: o.compactEvery, compactKeep: o.compactKeep,
    }, {
      send: (from, to, msg, image) => this.net.send(this.clock.now, from, to, image ? { msg, image } : { msg }),
      onPersist: (n, ents) => this.checker.persisted(n.id, n.core!, ents),
      onApply: (n, index, term, data, hash) => {
        if (data === null) this.stats.snapshotsInstalled++;
        this.checker.apply(n.id, index, term, data, hash);
      },
      onReady: (n, rd) => this.onReady(n, rd),
    });
    this.nodes.set(id, node);
    return node;
  }

  private onReady(n: SimNode, rd: Ready): void {
    const core = n.core!;
    if (rd.softState?.role === 'leader') {
      this.stats.elections++;
      this.checker.newLeader(n.id, core);
    }
    if (core.role === 'leader' && rd.hardState) this.checker.committed(core.term, n.disk.hardState.commit, rd.hardState.commit);
    for (const rs of rd.readStates) {
      const askedAt = this.pendingReads.get(n.id)?.get(rs.ctx);
      if (askedAt === undefined) continue;
      this.pendingReads.get(n.id)!.delete(rs.ctx);
      this.checker.read(n.id, askedAt, rs.index);
      this.stats.reads++;
    }
  }

  /** One unit of simulated time: deliver, tick, inject faults and work, process Readies, check. */
  step(faults: boolean): void {
    const now = this.clock.advance();
    for (const { to, packet } of this.net.due(now)) this.nodes.get(to)?.receive(packet.msg, packet.image);
    for (const n of this.nodes.values()) {
      if (n.alive && (now + Number(n.id.slice(1))) % TICK_UNITS === 0) n.core!.tick();
    }
    if (now % TICK_UNITS === 0) this.perTick(faults);
    for (const n of this.nodes.values()) {
      if (!n.alive) continue;
      if (faults && this.rng.chance(this.o.readyLagRate / TICK_UNITS)) this.lagging.add(n.id);
      else if (this.lagging.has(n.id) && this.rng.chance(0.3)) this.lagging.delete(n.id);
      if (!this.lagging.has(n.id)) n.processReady();
    }
    this.checkLeaders();
  }

  private perTick(faults: boolean): void {
    const r = this.rng;
    const now = this.clock.now;
    for (const [id, at] of this.restartAt) {
      if (at <= now) {
        this.restartAt.delete(id);
        this.nodes.get(id)!.start();
      }
    }
    if (this.healAt >= 0 && this.healAt <= now) {
      this.net.heal();
      this.healAt = -1;
    }
    if (!faults) return; // after healing only the convergence probe proposes
    if (r.chance(this.o.proposeRate)) this.propose();
    if (r.chance(this.o.readRate)) this.read();
    if (r.chance(this.o.crashRate)) this.crashOne();
    if (r.chance(this.o.partitionRate)) this.partition();
    if (r.chance(this.o.confRate)) this.changeMembership();
  }

  leaders(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.core?.role === 'leader');
  }

  private checkLeaders(): void {
    for (const n of this.nodes.values()) if (n.core?.role === 'leader') this.checker.leader(n.id, n.core.term);
  }

  propose(): boolean {
    const ls = this.leaders();
    // Sometimes ask a follower, which must refuse.
    const n = ls.length && this.rng.chance(0.9) ? ls[this.rng.int(ls.length)]! : this.randomAlive();
    if (!n) return false;
    const data = new TextEncoder().encode(`p${this.o.seed}-${++this.proposals}`);
    const r = n.core!.propose(data);
    if (!r.ok && n.core!.role === 'leader' && r.reason !== 'not-leader') throw new Error(`sim: leader refused a proposal: ${r.reason}`);
    return r.ok;
  }

  private read(): void {
    const ls = this.leaders();
    if (!ls.length) return;
    const n = ls[this.rng.int(ls.length)]!;
    const ctx = ++this.readCtx;
    if (!n.core!.readIndex(ctx)) return;
    if (!this.pendingReads.has(n.id)) this.pendingReads.set(n.id, new Map());
    this.pendingReads.get(n.id)!.set(ctx, this.checker.maxApplied);
  }

  private randomAlive(): SimNode | undefined {
    const alive = [...this.nodes.values()].filter((n) => n.alive);
    return alive.length ? alive[this.rng.int(alive.length)] : undefined;
  }

  private crashOne(): void {
    const n = this.randomAlive();
    if (!n) return;
    n.crash();
    this.lagging.delete(n.id);
    this.pendingReads.delete(n.id);
    this.stats.crashes++;
    this.restartAt.set(n.id, this.clock.now + TICK_UNITS * (1 + this.rng.int(4 * this.o.electionTicks)));
  }

  private partition(): void {
    const ids = [...this.nodes.keys()];
    const a: string[] = [];
    const b: string[] = [];
    for (const id of ids) (this.rng.chance(0.5) ? a : b).push(id);
    this.net.partition([a, b]);
    this.stats.partitions++;
    this.healAt = this.clock.now + TICK_UNITS * (5 + this.rng.int(6 * this.o.electionTicks));
  }

  private changeMembership(): void {
    const ls = this.leaders();
    if (!ls.length) return;
    const l = ls[this.rng.int(ls.length)]!;
    const members = l.core!.members();
    if (this.rng.chance(0.5) && members.length < 5) {
      const id = `n${this.nextId++}`;
      // A joining node starts empty and is told the current members, which do not include itself.
      const node = this.addNode(id, members);
      node.start();
      if (l.core!.proposeConfChange({ type: 'add', node: info(id) }).ok) this.stats.confChanges++;
    } else if (members.length > 1) {
      const victim = members[this.rng.int(members.length)]!.id;
      if (l.core!.proposeConfChange({ type: 'remove', id: victim }).ok) {
        this.stats.confChanges++;
        this.removed.add(victim);
      }
    }
  }

  /** End of the fault phase: everything comes back and the network becomes reliable. */
  heal(): void {
    this.net.heal();
    this.healAt = -1;
    this.net.opts = { ...this.net.opts, dropRate: 0, dupRate: 0 };
    this.lagging.clear();
    for (const id of this.restartAt.keys()) this.nodes.get(id)!.start();
    this.restartAt.clear();
  }

  /** The current configuration as the most recent leader sees it; converged when every member agrees. */
  converged(): boolean {
    const ls = this.leaders();
    if (ls.length !== 1) return false;
    const l = ls[0]!.core!;
    if (l.log.term(l.log.committed) !== l.term || l.log.committed !== l.log.lastIndex()) return false;
    for (const m of l.members()) {
      const c = this.nodes.get(m.id)?.core;
      if (!c || c.log.committed !== l.log.committed || c.log.applied !== l.log.committed || c.term !== l.term) return false;
    }
    return true;
  }

  committedIndex(): number {
    return this.checker.maxApplied;
  }
}
