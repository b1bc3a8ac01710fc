import { assert } from './assert.js';
import type { BlockId, NodeInfo } from './types.js';

/**
 * Replica placement by rendezvous (highest-random-weight) hashing, DESIGN.md invariant 4. Every node
 * gets a score hash(block id, node id); the block lives on the r best-scoring nodes. Any process that
 * knows the membership computes the same answer, with no table to keep in sync, and adding or
 * removing one of N nodes moves only the replicas that node gains or loses (about r/N of them).
 *
 * Pure: no I/O, no randomness, no node:crypto (a 64-bit non-cryptographic hash is plenty, and this
 * runs for every block a client writes).
 */

/** Majority of r replicas: a write is acknowledged once this many are durable (invariant 3). */
export function writeQuorum(r: number): number {
  assert(Number.isInteger(r) && r >= 1, `writeQuorum: bad replica count ${r}`);
  return Math.floor(r / 2) + 1;
}

/**
 * The r nodes that hold block `id`, best first (the first is a natural primary for repair and reads).
 * Distinct nodes always; distinct zones first when members declare zones: the best node of each zone
 * is taken in score order, and only when there are fewer zones than r are the remaining slots filled
 * with the best remaining nodes, whatever their zone. A member without a zone counts as a zone of its
 * own, so a cluster that declares no zones is plain rendezvous hashing. Returns fewer than r nodes
 * only when there are fewer than r members. Duplicate member ids count once.
 */
export function placeReplicas(id: BlockId, members: readonly NodeInfo[], r: number): NodeInfo[] {
  assert(Number.isInteger(r) && r >= 1, `placeReplicas: bad replica count ${r}`);
  const ranked = rank(id, members);
  const zoned = ranked.some((s) => s.node.zone !== undefined);
  if (!zoned) return ranked.slice(0, r).map((s) => s.node);
  const picked: Scored[] = [];
  const zones = new Set<string>();
  for (const s of ranked) {
    if (picked.length === r) break;
    const zone = s.node.zone === undefined ? `\0node:${s.node.id}` : s.node.zone;
    if (zones.has(zone)) continue;
    zones.add(zone);
    picked.push(s);
  }
  for (const s of ranked) {
    if (picked.length === r) break;
    if (!picked.includes(s)) picked.push(s);
  }
  return picked.map((s) => s.node);
}

interface Scored {
  node: NodeInfo;
  hi: number; // upper 32 bits of the score
  lo: number; // lower 32 bits
}

/** Members by descending score; ties (a 2^-64 event) broken by node id so the order stays total. */
function rank(id: BlockId, members: readonly NodeInfo[]): Scored[] {
  const seen = new Set<string>();
  const base = absorb(SEED_A, SEED_B, id);
  const out: Scored[] = [];
  for (const node of members) {
    if (seen.has(node.id)) continue;
    seen.add(node.id);
    // Separator so ("ab","c") and ("a","bc") differ: block ids never contain NUL.
    const [a, b] = absorb(base[0], base[1], '\0' + node.id);
    const [hi, lo] = finish(a, b);
    out.push({ node, hi, lo });
  }
  out.sort((x, y) => y.hi - x.hi || y.lo - x.lo || (x.node.id < y.node.id ? -1 : x.node.id > y.node.id ? 1 : 0));
  return out;
}

const SEED_A = 0x9e3779b9;
const SEED_B = 0x85ebca6b;

/**
 * Two independent 32-bit multiply-xor lanes over UTF-16 code units (the cyrb53 construction); state
 * carries over, so the block id is absorbed once and each node id continues from it.
 */
export function absorb(h1: number, h2: number, s: string): [number, number] {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x9e3779b1);
    h2 = Math.imul(h2 ^ c, 0x5f356495);
  }
  return [h1, h2];
}

/** Cross-mixes the lanes, then the murmur3 fmix32 avalanche on each: every input bit moves every output bit. */
export function finish(h1: number, h2: number): [number, number] {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b) ^ Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0x85ebca6b) ^ Math.imul(h1 ^ (h1 >>> 13), 0xc2b2ae35);
  return [fmix32(h1), fmix32(h2 ^ h1)];
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 64-bit hash of a string as [hi, lo] unsigned 32-bit halves; exported for tests and other placement users. */
export function hash64(s: string): [number, number] {
  const [a, b] = absorb(SEED_A, SEED_B, s);
  return finish(a, b);
}
