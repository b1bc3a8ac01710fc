import type { NodeInfo } from '../../shared/types.js';
import { RaftCore } from '../../storagenode/raft/core.js';
import type { RaftMessage } from '../../storagenode/raft/messages.js';
import { seededRng } from '../../storagenode/raft/rng.js';
import type { Entry, ReadState } from '../../storagenode/raft/types.js';

export const info = (id: string): NodeInfo => ({ id, url: `test://${id}` });
export const ents = (...terms: number[]): Entry[] =>
  terms.map((term, i) => ({ index: i + 1, term, type: 'normal', data: new Uint8Array([i + 1, term]) }));
export const bytesOf = (s: string) => new TextEncoder().encode(s);

/**
 * A synchronous network of cores, as in etcd's raft tests: every Ready is processed at once
 * (persisted in memory, messages delivered depth-first), with filters to drop messages.
 */
export class Net {
  cores = new Map<string, RaftCore>();
  applied = new Map<string, Entry[]>();
  readStates = new Map<string, ReadState[]>();
  drop: (m: RaftMessage) => boolean = () => false;
  delivered: RaftMessage[] = [];

  constructor(ids: string[], opts: { logs?: Record<string, Entry[]>; terms?: Record<string, number>; electionTicks?: number; members?: string[]; seed?: number } = {}) {
    const members = (opts.members ?? ids).map(info);
    ids.forEach((id, k) => {
      const entries = opts.logs?.[id] ?? [];
      const term = Math.max(opts.terms?.[id] ?? 0, entries.length ? entries[entries.length - 1]!.term : 0);
      this.cores.set(id, new RaftCore({
        id, rng: seededRng((opts.seed ?? 0) * 100 + k + 1), electionTicks: opts.electionTicks ?? 10, heartbeatTicks: 1,
        snapshot: { index: 0, term: 0, members }, entries, hardState: { term, vote: null, commit: 0 },
      }));
      this.applied.set(id, []);
      this.readStates.set(id, []);
    });
  }

  core(id: string): RaftCore {
    return this.cores.get(id)!;
  }

  /** Processes Readies and delivers messages until the network is quiet. */
  settle(): void {
    for (let progress = true; progress;) {
      progress = false;
      for (const [id, c] of this.cores) {
        if (!c.hasReady()) continue;
        progress = true;
        const rd = c.ready();
        this.applied.get(id)!.push(...rd.committed);
        this.readStates.get(id)!.push(...rd.readStates);
        c.advance(rd);
        for (const m of rd.messages) {
          if (this.drop(m)) continue;
          this.delivered.push(m);
          this.cores.get(m.to)?.step(m);
        }
      }
    }
  }

  tick(id: string, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.core(id).tick();
      this.settle();
    }
  }
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const c of this.cores.values()) c.tick();
      this.settle();
    }
  }

  /** Ticks `id` alone until it campaigns and the network settles. */
  elect(id: string): void {
    for (let i = 0; i < 100 && this.core(id).role !== 'leader'; i++) this.tick(id);
    if (this.core(id).role !== 'leader') throw new Error(`${id} did not become leader`);
  }

  isolate(id: string): void {
    this.drop = (m) => m.from === id || m.to === id;
  }
  heal(): void {
    this.drop = () => false;
  }
  leaders(): string[] {
    return [...this.cores].filter(([, c]) => c.role === 'leader').map(([id]) => id);
  }
}
