import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Latency tracing of the commit path, off unless TIDEFS_RAFT_TRACE names a directory: each node then
 * appends `<event> <index> <wall-clock µs>` lines to <dir>/<id>.trace once a second.
 */
const dir = process.env.TIDEFS_RAFT_TRACE;
let lines: string[] = [];
let file = '';
export const tracing = !!dir;
export function traceInit(id: string): void {
  if (!dir) return;
  file = join(dir, `${id}.trace`);
  setInterval(() => {
    if (!lines.length) return;
    appendFileSync(file, lines.join('\n') + '\n');
    lines = [];
  }, 1000).unref();
}
export function trace(ev: string, index: number): void {
  if (!dir) return;
  lines.push(`${ev} ${index} ${((performance.timeOrigin + performance.now()) * 1000).toFixed(0)}`);
}
