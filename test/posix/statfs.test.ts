// statfs(2) and stat(2) basics: sane totals, block counts of sparse and dense files.
import t from 'tap';
import { statfsSync, writeFileSync, lstatSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { posixTarget, freshDir, errnoOf } from '../helpers/posix.js';

const target = await posixTarget(t);

t.test('reports consistent block and inode totals', async (t) => {
  const s = statfsSync(target.dir);
  t.ok(s.bsize > 0, `bsize ${s.bsize}`);
  t.ok(s.blocks > 0, 'total blocks');
  t.ok(s.bfree <= s.blocks, 'free ≤ total');
  t.ok(s.bavail <= s.bfree, 'available ≤ free');
  t.ok(s.ffree <= s.files, 'free inodes ≤ total inodes');
});

t.test('works on a file and returns ENOENT for a missing path', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'f'), 'x');
  t.equal(statfsSync(join(d, 'f')).bsize, statfsSync(d).bsize);
  t.equal(errnoOf(() => statfsSync(join(d, 'missing'))), 'ENOENT');
});

t.test('counts blocks for written data and few for a hole', async (t) => {
  const d = freshDir(target, t.name);
  writeFileSync(join(d, 'dense'), Buffer.alloc(1024 * 1024, 1));
  writeFileSync(join(d, 'sparse'), '');
  truncateSync(join(d, 'sparse'), 1024 * 1024 * 1024);
  const dense = lstatSync(join(d, 'dense'));
  const sparse = lstatSync(join(d, 'sparse'));
  t.ok(dense.blocks * 512 >= 1024 * 1024, `dense: ${dense.blocks} blocks of 512 bytes cover the data`);
  t.ok(sparse.blocks * 512 < 1024 * 1024, `sparse: ${sparse.blocks} blocks for a 1 GiB hole`);
  t.equal(sparse.size, 1024 * 1024 * 1024);
});
