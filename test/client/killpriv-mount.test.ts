import t from 'tap';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';

/**
 * The mount negotiates FUSE_HANDLE_KILLPRIV_V2 (client/fuse/BINDING.md): the kernel stops asking for
 * security.capability before every write, which made each small write two FUSE requests. (That the
 * file system then clears setuid/setgid itself is tested in test/posix/open.test.ts and chown.test.ts.)
 */
t.test('mount: writes reach the file system without a capability lookup before each one', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  const m = await mountFs(t, cluster.urls, { args: ['--debug'] });
  const f = join(m.dir, 'f');
  closeSync(openSync(f, 'w'));
  const fd = openSync(f, 'r+'); // an existing file: no "new file, no xattrs" shortcut
  const page = Buffer.alloc(4096, 7);
  for (let i = 0; i < 50; i++) writeSync(fd, page, 0, page.length, ((i * 7) % 50) * 4096);
  closeSync(fd);
  const log = readFileSync(m.logFile, 'utf8').split('\n');
  const writes = log.filter((l) => / DEBUG write \/f ok /.test(l)).length;
  const probes = log.filter((l) => / DEBUG getxattr \/f /.test(l)).length;
  t.equal(writes, 50, 'fifty write requests');
  // The kernel looks once, then marks the inode as holding nothing to drop (S_NOSEC); without
  // KILLPRIV_V2 it asked before each of the fifty writes.
  t.ok(probes <= 1, `a capability lookup at most once, not before each write (${probes})`);
});
