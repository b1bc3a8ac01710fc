import type { RaftCore } from '../../storagenode/raft/core.js';
import type { Entry } from '../../storagenode/raft/types.js';
import { confKey } from './sim-node.js';

/** A broken Raft property, with enough context to start debugging from the seed. */
export class SafetyViolation extends Error {
  constructor(property: string, detail: string) {
    super(`${property}: ${detail}`);
    this.name = 'SafetyViolation';
  }
}

const key = (d: Uint8Array) => Buffer.from(d).toString('hex');

/**
 * The Raft safety properties (Figure 3), checked incrementally so they can run after every step:
 * - election safety: at most one leader per term;
 * - log matching: two logs with an entry of the same index and term hold the same entry, and agree on
 *   the term before it (which by induction makes the whole prefixes equal);
 * - leader completeness: an entry committed in term T is in the log of every leader of a term > T;
 * - state machine safety: no two nodes apply different entries at one index (the hash chain also
 *   covers snapshot images).
 */
export class Checker {
  private leaders = new Map<number, string>();
  private entries = new Map<string, { data: string; prevTerm: number | undefined }>();
  private applied = new Map<number, { term: number; data: string | null; hash: number }>();
  /** commitTerm[i]: the term of the leader that first committed index i. */
  private commitTerm: number[] = [];
  maxApplied = 0;
  checks = 0;

  leader(node: string, term: number): void {
    this.checks++;
    const other = this.leaders.get(term);
    if (other !== undefined && other !== node) throw new SafetyViolation('election safety', `${other} and ${node} both lead term ${term}`);
    this.leaders.set(term, node);
  }

  persisted(node: string, core: RaftCore, ents: Entry[]): void {
    for (const e of ents) {
      this.checks++;
      const k = `${e.index}/${e.term}`;
      const data = key(e.type === 'conf' ? confKey(e) : e.data);
      const prevTerm = core.log.term(e.index - 1);
      const seen = this.entries.get(k);
      if (!seen) {
        this.entries.set(k, { data, prevTerm });
        continue;
      }
      if (seen.data !== data) throw new SafetyViolation('log matching', `${node} has a different entry at ${k}`);
      if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
        throw new SafetyViolation('log matching', `${node} disagrees on the term before ${k}: ${prevTerm} vs ${seen.prevTerm}`);
      }
    }
  }

  apply(node: string, index: number, term: number, data: Uint8Array | null, hash: number): void {
    this.checks++;
    const d = data === null ? null : key(data);
    const seen = this.applied.get(index);
    if (!seen) {
      this.applied.set(index, { term, data: d, hash });
      this.maxApplied = Math.max(this.maxApplied, index);
      return;
    }
    if (seen.term !== term || seen.hash !== hash || (d !== null && seen.data !== null && d !== seen.data)) {
      throw new SafetyViolation('state machine safety', `${node} applied ${index}/${term} (hash ${hash}), another node ${index}/${seen.term} (hash ${seen.hash})`);
    }
    if (seen.data === null && d !== null) seen.data = d;
  }

  /** A leader at `term` moved its commit index from `from` to `to`. */
  committed(term: number, from: number, to: number): void {
    for (let i = from + 1; i <= to; i++) if (this.commitTerm[i] === undefined) this.commitTerm[i] = term;
  }

  /** Called when `node` becomes leader of `term`. */
  newLeader(node: string, core: RaftCore): void {
    const term = core.term;
    for (let i = core.log.snap.index + 1; i < this.commitTerm.length; i++) {
      const ct = this.commitTerm[i];
      if (ct === undefined || ct >= term) continue;
      this.checks++;
      const want = this.applied.get(i)?.term ?? this.entryTermAt(i);
      const have = core.log.term(i);
      if (have === undefined || (want !== undefined && have !== want)) {
        throw new SafetyViolation('leader completeness', `${node}, leader of term ${term}, lacks entry ${i} committed in term ${ct} (has term ${have}, want ${want})`);
      }
    }
  }

  private entryTermAt(i: number): number | undefined {
    for (const k of this.entries.keys()) if (k.startsWith(`${i}/`)) return Number(k.split('/')[1]);
    return undefined;
  }

  /** Linearizable reads: a ReadIndex answer covers everything applied anywhere when it was asked. */
  read(node: string, askedAt: number, index: number): void {
    this.checks++;
    if (index < askedAt) throw new SafetyViolation('linearizable read', `${node} answered a read with index ${index} < ${askedAt} applied before it was asked`);
  }
}
