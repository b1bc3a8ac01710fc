// The randomized comparison behind test/client/random-ops.test.ts: one seed gives one list of file
// operations; the list is applied to two directories (the target and a local reference) and after
// every step the names, sizes, contents near the touched offsets and the errnos must agree.
// Operations never depend on state (slots and paths are indexes), so any sub-list is a valid run:
// that is what lets a failure shrink by dropping operations.
import { closeSync, fstatSync, fsyncSync, ftruncateSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readSync,
  renameSync, truncateSync, unlinkSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { rng } from './rng.js';

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;
const KiB = 1024;
export const PATHS = ['a', 'b', 'c', 'd', 'd0/a', 'd0/b', 'd1/a', 'd1/e'];
const DIRS = ['d0', 'd1'];
export const SLOTS = 4;
const OPEN_FLAGS = {
  create: constants.O_CREAT | constants.O_RDWR,
  trunc: constants.O_CREAT | constants.O_RDWR | constants.O_TRUNC,
  excl: constants.O_CREAT | constants.O_EXCL | constants.O_RDWR,
  reopen: constants.O_RDWR,
  append: constants.O_CREAT | constants.O_RDWR | constants.O_APPEND,
};
type OpenMode = keyof typeof OPEN_FLAGS;

export type Op =
  | { k: 'open'; slot: number; path: number; mode: OpenMode }
  | { k: 'write'; slot: number; off: number; len: number; seed: number }
  | { k: 'read'; slot: number; off: number; len: number }
  | { k: 'truncate'; path: number; len: number }
  | { k: 'ftruncate'; slot: number; len: number }
  | { k: 'rename'; from: number; to: number }
  | { k: 'link'; from: number; to: number }
  | { k: 'unlink'; path: number }
  | { k: 'fsync'; slot: number }
  | { k: 'close'; slot: number };

export { rng }; // test/helpers/rng.ts: the same sequence everywhere for a seed

function offsetOf(r: () => number): number {
  const p = r();
  if (p < 0.65) return Math.floor(r() * 256 * KiB);
  if (p < 0.85) return Math.floor(r() * 16 * MiB);
  if (p < 0.95) return 4 * GiB + Math.floor(r() * 64 * MiB) - 32 * MiB; // around the 4 GiB line
  return Math.floor(r() * 6 * GiB);
}

function lengthOf(r: () => number): number {
  const p = r();
  if (p < 0.8) return 1 + Math.floor(r() * 64 * KiB);
  if (p < 0.95) return 64 * KiB + Math.floor(r() * MiB);
  return MiB + Math.floor(r() * 5 * MiB); // large
}

/** The operations of one seed. */
export function generate(seed: number, steps: number): Op[] {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const table: Array<[number, () => Op]> = [
    [28, () => ({ k: 'write', slot: int(SLOTS), off: offsetOf(r), len: lengthOf(r), seed: int(2 ** 31) })],
    [10, () => ({ k: 'read', slot: int(SLOTS), off: offsetOf(r), len: lengthOf(r) })],
    [14, () => ({ k: 'open', slot: int(SLOTS), path: int(PATHS.length), mode: (['create', 'create', 'trunc', 'excl', 'reopen', 'reopen', 'append'] as const)[int(7)] })],
    [8, () => ({ k: 'close', slot: int(SLOTS) })],
    [5, () => ({ k: 'fsync', slot: int(SLOTS) })],
    [6, () => ({ k: 'truncate', path: int(PATHS.length), len: r() < 0.2 ? 0 : offsetOf(r) })],
    [5, () => ({ k: 'ftruncate', slot: int(SLOTS), len: r() < 0.2 ? 0 : offsetOf(r) })],
    [8, () => ({ k: 'rename', from: int(PATHS.length), to: int(PATHS.length) })],
    [3, () => ({ k: 'link', from: int(PATHS.length), to: int(PATHS.length) })],
    [6, () => ({ k: 'unlink', path: int(PATHS.length) })],
  ];
  const total = table.reduce((s, [w]) => s + w, 0);
  const ops: Op[] = [];
  for (let i = 0; i < steps; i++) {
    let x = r() * total;
    const entry = table.find(([w]) => (x -= w) < 0) ?? table[0];
    ops.push(entry[1]());
  }
  return ops;
}

export function describe(op: Op): string {
  const { k, ...rest } = op;
  const fields = Object.entries(rest).map(([key, v]) =>
    `${key}=${key === 'path' || key === 'from' || key === 'to' ? PATHS[v as number] : v}`);
  return `${k} ${fields.join(' ')}`;
}

/** Deterministic bytes for a write: a 32-bit xorshift stream. */
export function dataOf(seed: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  let x = seed | 1;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b.writeInt32LE(x | 0, i);
  }
  for (; i < len; i++) b[i] = i & 0xff;
  return b;
}

/** One side of the comparison: a root directory and its open descriptors, by slot. */
export class Side {
  fds: Array<number | null> = new Array(SLOTS).fill(null);
  constructor(readonly root: string) {
    for (const d of DIRS) mkdirSync(join(root, d), { recursive: true });
  }
  path(i: number): string { return join(this.root, PATHS[i]); }
  closeAll(): void {
    for (const fd of this.fds) if (fd !== null) try { closeSync(fd); } catch { /* already broken */ }
    this.fds.fill(null);
  }
}

const errno = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code !== 'string') throw e;
  return code;
};

/** Applies op to one side; answers what an application would see: a value or an errno name. */
export function apply(s: Side, op: Op): string {
  try {
    switch (op.k) {
      case 'open': {
        if (s.fds[op.slot] !== null) closeSync(s.fds[op.slot]!);
        s.fds[op.slot] = null;
        s.fds[op.slot] = openSync(s.path(op.path), OPEN_FLAGS[op.mode], 0o644);
        return 'OK';
      }
      case 'close': case 'fsync': case 'write': case 'read': case 'ftruncate': {
        const fd = s.fds[op.slot];
        if (fd === null) return 'no descriptor';
        if (op.k === 'close') { s.fds[op.slot] = null; closeSync(fd); return 'OK'; }
        if (op.k === 'fsync') { fsyncSync(fd); return 'OK'; }
        if (op.k === 'ftruncate') { ftruncateSync(fd, op.len); return 'OK'; }
        if (op.k === 'write') return `wrote ${writeSync(fd, dataOf(op.seed, op.len), 0, op.len, op.off)}`;
        const b = Buffer.alloc(op.len);
        const n = readSync(fd, b, 0, op.len, op.off);
        return `read ${n} ${hash(b.subarray(0, n))}`;
      }
      case 'truncate': truncateSync(s.path(op.path), op.len); return 'OK';
      case 'rename': renameSync(s.path(op.from), s.path(op.to)); return 'OK';
      case 'link': linkSync(s.path(op.from), s.path(op.to)); return 'OK';
      case 'unlink': unlinkSync(s.path(op.path)); return 'OK';
    }
  } catch (e) {
    return errno(e);
  }
}

function hash(b: Buffer): string {
  let h = 2166136261;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 16777619);
  return (h >>> 0).toString(16);
}

/** The names under root (two levels), with their type. */
function tree(root: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(root, { withFileTypes: true })) {
    out.push(`${e.name}${e.isDirectory() ? '/' : ''}`);
    if (e.isDirectory()) for (const f of readdirSync(join(root, e.name))) out.push(`${e.name}/${f}`);
  }
  return out.sort();
}

function readWindow(p: string, off: number, len: number): Buffer {
  const fd = openSync(p, 'r');
  try {
    const b = Buffer.alloc(len);
    return b.subarray(0, readSync(fd, b, 0, len, off));
  } finally {
    closeSync(fd);
  }
}

/**
 * Compares the two roots: the same names, sizes and link counts; the same bytes in the whole file
 * when it is at most 1 MiB, else at its start, its end and each focus offset. Answers the first
 * difference, or null.
 */
export function compare(a: Side, b: Side, focus: number[]): string | null {
  const ta = tree(a.root), tb = tree(b.root);
  if (ta.join('|') !== tb.join('|')) return `names differ: target [${ta.join(', ')}] reference [${tb.join(', ')}]`;
  for (const name of ta.filter((n) => !n.endsWith('/'))) {
    const pa = join(a.root, name), pb = join(b.root, name);
    const sa = lstatSync(pa), sb = lstatSync(pb);
    if (sa.size !== sb.size) return `${name}: size ${sa.size}, reference ${sb.size}`;
    if (sa.nlink !== sb.nlink) return `${name}: nlink ${sa.nlink}, reference ${sb.nlink}`;
    const windows = sa.size <= MiB ? [[0, sa.size]] : [[0, 64 * KiB], [sa.size - 64 * KiB, 64 * KiB], ...focus.map((o) => [o, 256 * KiB])];
    for (const [off, len] of windows) {
      if (off >= sa.size && sa.size > 0) continue;
      const wa = readWindow(pa, off, len), wb = readWindow(pb, off, len);
      if (!wa.equals(wb)) {
        let i = 0;
        while (i < wa.length && wa[i] === wb[i]) i++;
        return `${name}: bytes differ at offset ${off + i} (read ${wa.length} of ${len} at ${off}, reference ${wb.length})`;
      }
    }
  }
  return null;
}

/** The offsets worth comparing after op. */
export function focusOf(op: Op): number[] {
  if (op.k === 'write' || op.k === 'read') return [Math.max(0, op.off - 4096), Math.max(0, op.off + op.len - 4096)];
  if (op.k === 'truncate' || op.k === 'ftruncate') return [Math.max(0, op.len - 128 * KiB)];
  return [];
}

/**
 * Whether op would remove a name of a file that the reference side holds open. Only for the
 * diagnostic switch TIDEFS_RANDOM_SPARE_OPEN=1, which lets a run look past a known failure there
 * (libfuse's high-level API hides such a file as .fuse_hidden* unless it is mounted hard_remove).
 */
export function removesOpenFile(ref: Side, op: Op): boolean {
  const victim = op.k === 'unlink' ? op.path : op.k === 'rename' && op.from !== op.to ? op.to : -1;
  if (victim < 0) return false;
  let st;
  try { st = lstatSync(ref.path(victim)); } catch { return false; }
  return ref.fds.some((fd) => fd !== null && fstatSync(fd).ino === st.ino);
}
