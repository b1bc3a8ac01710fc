import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingHeapFlags, NODE_HEAP_FLAGS } from '../../storagenode/heap-flags.js';

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
  t.match(script, /nohup node "\$\{node_flags\[@\]\}" "\$repo\/bin\/tidefs" node /);
});
