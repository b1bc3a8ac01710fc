import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingHeapFlags, NODE_HEAP_FLAGS } from '../../storagenode/heap-flags.js';
import { MALLOC_TUNABLES, mallocTunablesWarning, missingMallocTunables, withMallocTunables } from '../../shared/malloc-tunables.js';
import { NODE_MAIN, TEST_CLUSTER_ID } from '../helpers/cluster.js';
import { freePort } from '../helpers/free-port.js';

// dist/test/storagenode -> the repository root
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

t.test('heap flags: what is missing from a command line', async (t) => {
  t.same(missingHeapFlags([]), NODE_HEAP_FLAGS);
  t.same(missingHeapFlags(['--inspect', ...NODE_HEAP_FLAGS]), []);
  t.same(missingHeapFlags(['--initial-old-space-size=64']), NODE_HEAP_FLAGS, 'another size is not the one chosen');
});

t.test('heap flags: scripts/cluster starts nodes with the same flags', async (t) => {
  const script = readFileSync(join(root, 'scripts', 'cluster'), 'utf8');
  t.match(script, `node_flags=(${NODE_HEAP_FLAGS.join(' ')})`);
  t.match(script, /setsid nohup node "\$\{node_flags\[@\]\}" "\$repo\/bin\/tidefs" node /);
});

t.test('malloc tunables: scripts/cluster and scripts/start start nodes and the mount with MALLOC_TUNABLES', async (t) => {
  const cluster = readFileSync(join(root, 'scripts', 'cluster'), 'utf8');
  t.match(cluster, `malloc_tunables=${MALLOC_TUNABLES}\n`);
  t.match(cluster, 'GLIBC_TUNABLES="$malloc_tunables" setsid nohup node ');
  t.match(readFileSync(join(root, 'scripts', 'start'), 'utf8'), `GLIBC_TUNABLES=${MALLOC_TUNABLES} node bin/tidefs mount `);
});

t.test('malloc tunables: added to what GLIBC_TUNABLES has, which wins; a missing one is named', async (t) => {
  t.equal(withMallocTunables({}).GLIBC_TUNABLES, MALLOC_TUNABLES);
  t.equal(withMallocTunables({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1' }).GLIBC_TUNABLES, 'glibc.malloc.trim_threshold=1:glibc.malloc.mmap_threshold=33554432');
  t.same(missingMallocTunables({ GLIBC_TUNABLES: MALLOC_TUNABLES }), []);
  t.same(missingMallocTunables({}), MALLOC_TUNABLES.split(':'));
  t.equal(mallocTunablesWarning(withMallocTunables({})), null);
  t.match(mallocTunablesWarning({}), /started without GLIBC_TUNABLES=/);
});

/** Runs a one-node storage node with `flags` until its log says it started, then stops it; returns what it logged. */
async function startupLog(t: { teardown(fn: () => unknown): void }, flags: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tidefs-heap-flags-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [...flags, NODE_MAIN, '--id', 'n1', '--listen', `127.0.0.1:${port}`, '--data', join(dir, 'n1'), '--peers', `n1=${url}`, '--cluster', TEST_CLUSTER_ID], { stdio: ['ignore', 'pipe', 'pipe'], env });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const deadline = Date.now() + 20_000;
  while (!/listening|elected leader/.test(out) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  return out;
}

t.test('heap flags and malloc tunables: a node started without them says so; with them (as the harnesses start nodes) it does not', async (t) => {
  const { GLIBC_TUNABLES: _, ...bare } = process.env;
  const without = await startupLog(t, [], bare);
  t.match(without, /started without --initial-old-space-size=128/);
  t.match(without, /started without GLIBC_TUNABLES=/);
  const withFlags = await startupLog(t, NODE_HEAP_FLAGS, withMallocTunables(process.env));
  t.match(withFlags, /elected leader|listening/, 'it started');
  t.notMatch(withFlags, /started without/);
});
