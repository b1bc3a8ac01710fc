import { cpus, freemem, loadavg, release, totalmem } from 'node:os';

/**
 * Comment lines (`# ...`) for the bench and soak output: what machine the figures come from and how
 * busy it was. The machine has 2 cores shared with other work, so a figure means little without the
 * load average around it.
 */
export function machineLines(when: 'start' | 'end'): string[] {
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  const lines = [`# loadavg_${when} ${load} (1/5/15 min) at ${new Date().toISOString()}`];
  if (when === 'start') {
    lines.unshift(`# machine nproc=${cpus().length} kernel=${release()} node=${process.version} ` +
      `mem_total_mb=${Math.round(totalmem() / 1e6)} mem_free_mb=${Math.round(freemem() / 1e6)}`);
  }
  return lines;
}
