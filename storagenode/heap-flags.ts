/**
 * V8 flags a storage node should be started with: launchers put them before the script
 * (`node --initial-old-space-size=128 bin/tidefs node ...`; scripts/cluster and the test and bench
 * harnesses do). They cannot be set from inside the process (V8 sizes its heap at start) nor through
 * NODE_OPTIONS, which refuses them.
 *
 * Why: a node's JavaScript heap holds ~8 MB, so V8 sets its old-generation limit at ~20 MB and, with
 * every 4 MiB block passing through as a few short-lived objects and buffers, started a full
 * mark-compact every ~3 MiB received: 348 per GiB written through the mount at R=3, and twice the
 * node CPU per byte. With an initial old space of 128 MB: 11 per GiB, the three nodes' CPU 19.3 ->
 * 8.9 s per GiB, peak RSS ~130 -> ~165 MB per node (docs/perf-wire.md, "Session 7").
 */
export const NODE_HEAP_FLAGS = ['--initial-old-space-size=128'];

/** The flags of NODE_HEAP_FLAGS this process was started without. */
export function missingHeapFlags(execArgv: string[] = process.execArgv): string[] {
  return NODE_HEAP_FLAGS.filter((f) => !execArgv.includes(f));
}
