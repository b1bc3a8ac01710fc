/**
 * Names, contents and the deterministic random picks of the scale soak (pure: no I/O), shared by the
 * soak and its creator processes, and tested in names.test.ts.
 */

/** The i-th file the creators make. */
export function fileName(i: number): string {
  return `f${i}`;
}

/** The byte a data file is filled with, so a read can check it got that file's contents. */
export function dataByte(i: number): number {
  return i % 251;
}

export { rng } from '../helpers/rng.js';

/**
 * `n` distinct indices in [0, below) for which `ok(i)` holds, in random order; fewer if fewer exist.
 * Rejection sampling while it is cheap, then one scan of what is left.
 */
export function pick(random: () => number, below: number, n: number, ok: (i: number) => boolean): number[] {
  const out = new Set<number>();
  for (let tries = 0; out.size < n && tries < n * 20; tries++) {
    const i = Math.floor(random() * below);
    if (ok(i)) out.add(i);
  }
  if (out.size < n) {
    const rest: number[] = [];
    for (let i = 0; i < below; i++) if (ok(i) && !out.has(i)) rest.push(i);
    while (out.size < n && rest.length) out.add(rest.splice(Math.floor(random() * rest.length), 1)[0]!);
  }
  return [...out];
}

/** Contiguous ranges splitting [from, to) into `parts` (the last ones may be empty). */
export function split(from: number, to: number, parts: number): [number, number][] {
  const size = Math.ceil((to - from) / parts);
  return Array.from({ length: parts }, (_, k): [number, number] => [Math.min(to, from + k * size), Math.min(to, from + (k + 1) * size)])
    .filter(([a, b]) => b > a);
}
