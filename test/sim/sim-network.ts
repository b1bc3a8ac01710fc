import { Packr } from 'msgpackr';
import { Invalid } from '../../shared/wire/validate.js';
import { validateMessage, type RaftMessage } from '../../storagenode/raft/messages.js';
import type { SimImage } from './sim-node.js';

/** A Raft message on the simulated wire; a snapshot carries its image beside it (the driver's chunks). */
export interface Packet {
  msg: RaftMessage;
  image?: SimImage;
}
export interface NetOptions {
  dropRate: number;
  dupRate: number;
  delayMax: number; // time units; delays are uniform in [1, delayMax], which also reorders
  wire: boolean; // round-trip every message through msgpack + validateMessage, as on a real wire
}
interface InFlight {
  at: number;
  seq: number;
  from: string;
  to: string;
  packet: Packet;
}
type Rand = { int(n: number): number; chance(p: number): boolean };

const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, mapsAsObjects: true, int64AsType: 'number' });

/** Drops, duplicates, delays (hence reorders) and partitions messages, all from one seeded Rng. */
export class SimNetwork {
  private queue: InFlight[] = [];
  private seq = 0;
  private cut = new Set<string>();
  sent = 0;
  delivered = 0;

  constructor(private readonly rng: Rand, public opts: NetOptions) {}

  send(now: number, from: string, to: string, packet: Packet): void {
    this.sent++;
    if (this.isCut(from, to) || this.rng.chance(this.opts.dropRate)) return;
    const copies = this.rng.chance(this.opts.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.queue.push({ at: now + 1 + this.rng.int(this.opts.delayMax), seq: this.seq++, from, to, packet });
    }
  }

  /** Messages due at `now`, in delivery order; a partition also catches messages already in flight. */
  due(now: number): { to: string; packet: Packet }[] {
    const ready: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.queue) (f.at <= now ? ready : rest).push(f);
    this.queue = rest;
    ready.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const out: { to: string; packet: Packet }[] = [];
    for (const f of ready) {
      if (this.isCut(f.from, f.to)) continue;
      this.delivered++;
      out.push({ to: f.to, packet: this.opts.wire ? this.overWire(f.packet) : f.packet });
    }
    return out;
  }

  private overWire(p: Packet): Packet {
    const m = validateMessage(packr.unpack(packr.pack(p.msg)));
    if (m instanceof Invalid) throw new Error(`sim: a core sent an invalid message: ${m}`);
    return p.image ? { msg: m, image: p.image } : { msg: m };
  }

  /** Splits the nodes into groups that cannot talk to each other. */
  partition(groups: string[][]): void {
    this.cut.clear();
    for (let a = 0; a < groups.length; a++) {
      for (let b = 0; b < groups.length; b++) {
        if (a === b) continue;
        for (const x of groups[a]!) for (const y of groups[b]!) this.cut.add(`${x}>${y}`);
      }
    }
  }
  heal(): void {
    this.cut.clear();
  }
  isPartitioned(): boolean {
    return this.cut.size > 0;
  }
  private isCut(from: string, to: string): boolean {
    return this.cut.has(`${from}>${to}`);
  }
}
