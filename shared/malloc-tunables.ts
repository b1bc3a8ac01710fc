/**
 * glibc malloc settings that storage nodes and clients should start with. Launchers put them in the
 * environment (GLIBC_TUNABLES is read once, when the process starts, so it cannot be set from inside):
 * scripts/cluster, scripts/start and the test and bench harnesses do; a process started without them
 * says so in its log.
 *
 * Why: every 4 MiB block goes through a client and each replica as a few short-lived buffers of 1–4
 * MiB. glibc maps buffers that size with mmap and unmaps them when they are freed, so each one comes
 * back as fresh pages, faulted in one by one; page faults are expensive on this kind of VM. Keeping
 * allocations up to 32 MiB on the heap (mmap_threshold) and up to 64 MiB of free heap top before it
 * is returned (trim_threshold) reuses those pages: writing 1 GiB through a mount took the client's
 * page faults 85–91k -> 29k and its CPU 3.2–3.4 -> 2.0 s, the nodes' 34–48k -> 18–27k and 1.9–2.2 ->
 * 1.7–1.9 s, dd 164–174 -> 204–214 MB/s (docs/perf-writes.md, "Session 10"); peak RSS was unchanged
 * within noise.
 */
export const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864';

/** `env` with MALLOC_TUNABLES added to GLIBC_TUNABLES (settings already there win). */
export function withMallocTunables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const have = env.GLIBC_TUNABLES ?? '';
  const names = new Set(have.split(':').map((kv) => kv.split('=')[0]));
  const add = MALLOC_TUNABLES.split(':').filter((kv) => !names.has(kv.split('=')[0]));
  return { ...env, GLIBC_TUNABLES: [...(have ? [have] : []), ...add].join(':') };
}

/** The settings of MALLOC_TUNABLES this process was started without, for a warning. */
export function missingMallocTunables(env: NodeJS.ProcessEnv = process.env): string[] {
  const have = new Set((env.GLIBC_TUNABLES ?? '').split(':'));
  return MALLOC_TUNABLES.split(':').filter((kv) => !have.has(kv));
}

/** The warning a process started without them logs (null when nothing is missing). */
export function mallocTunablesWarning(env: NodeJS.ProcessEnv = process.env): string | null {
  const missing = missingMallocTunables(env);
  if (missing.length === 0) return null;
  return `started without GLIBC_TUNABLES=${MALLOC_TUNABLES} (scripts/cluster and scripts/start set it): expect more CPU per byte, spent in page faults (shared/malloc-tunables.ts)`;
}
