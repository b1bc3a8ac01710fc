// SQLite through two mounts (rollback journal, fcntl locks): two python3 processes, one per mount,
// each increment a counter 500 times in transactions. Locks must exclude, and a new lock holder must
// read what the last one committed: the total is exactly 1000 and the database stays intact.
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';

const run = promisify(execFile);
// 500 per process is the acceptance figure (TIDEFS_SQLITE_ROUNDS=500, ~3+ min); the default run keeps to 100.
const ROUNDS = Number(process.env.TIDEFS_SQLITE_ROUNDS ?? 100);
const INCREMENT = String.raw`
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=120, isolation_level=None)
t0 = time.monotonic()
for i in range(int(sys.argv[2])):
    db.execute('BEGIN IMMEDIATE')
    v = db.execute('SELECT v FROM counter WHERE id = 1').fetchone()[0]
    db.execute('UPDATE counter SET v = ? WHERE id = 1', (v + 1,))
    db.execute('COMMIT')
db.close()
print(round(time.monotonic() - t0, 2))
`;

const MODES: { name: string; opts: { strict?: boolean; args?: string[] } }[] = [
  // The default mount: the kernel keeps the page cache of a file SQLite holds open across
  // transactions; each lock grant drops it (client/vfs/kernel-cache.ts dropInodeData).
  { name: 'default mounts', opts: {} },
  // No page cache at all: every read reaches the client, whose own caches each grant revalidates.
  { name: 'strict --direct-io mounts', opts: { strict: true, args: ['--direct-io'] } },
];

for (const mode of MODES) {
  t.test(`sqlite3, ${mode.name}: two mounts x ${ROUNDS} increments in transactions = ${2 * ROUNDS}, integrity ok`, async (t) => {
    const cluster = await startCluster(t, { nodes: 3 });
    // Writes made under a lock are committed before each unlock, and a new holder reads them.
    const A = await mountFs(t, cluster.urls, mode.opts);
    const B = await mountFs(t, cluster.urls, mode.opts);
    const py = (code: string, ...a: string[]) => run('python3', ['-c', code, ...a], { timeout: 600_000 });
    await py(`import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.execute('CREATE TABLE counter (id INTEGER PRIMARY KEY, v INTEGER)')
db.execute('INSERT INTO counter VALUES (1, 0)'); db.commit(); db.close()`, join(A.dir, 'c.db'));
    const [ra, rb] = await Promise.all([py(INCREMENT, join(A.dir, 'c.db'), String(ROUNDS)), py(INCREMENT, join(B.dir, 'c.db'), String(ROUNDS))]);
    t.comment(`sqlite increments: A ${ra.stdout.trim()} s, B ${rb.stdout.trim()} s`);
    const check = await py(`import sqlite3, sys, json
db = sqlite3.connect(sys.argv[1])
print(json.dumps([db.execute('SELECT v FROM counter WHERE id = 1').fetchone()[0], db.execute('PRAGMA integrity_check').fetchone()[0]]))`, join(B.dir, 'c.db'));
    t.same(JSON.parse(check.stdout), [2 * ROUNDS, 'ok']);
  });
}
