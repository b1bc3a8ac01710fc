// Through a real mount with kernel caching on (60 s): the patched binding's /dev/fuse channel learns
// which kernel nodes carry which inode, so invalidateInode/invalidateEntry reach the kernel's cached
// attributes and names; files with several links are never cached; forgotten nodes leave the table.
// The file system (MemFs) is changed behind the kernel's back, as another client's change would be.
// The mount is served by this process: only asynchronous fs calls here (a sync one would block the
// thread that answers it).
import t from 'tap';
import { writeFileSync as writeLocal } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Fuse } from '../../../client/fuse/binding.js';
import { mountMemFs } from './mem-fs.js';

const { mem, mount, mnt } = await mountMemFs(t, 'kview', { attrTimeoutSec: 60, entryTimeoutSec: 60 });
const modeOf = async (name: string) => (await stat(join(mnt, name))).mode & 0o7777;


t.test('the build has the channel', async (t) => {
  t.equal(Fuse.features.invalidate, true);
  t.ok(mount.kernelNodes() >= 0);
});

t.test('invalidateInode drops the kernel\'s cached attributes of that inode only', async (t) => {
  await writeFile(join(mnt, 'a'), 'x');
  await writeFile(join(mnt, 'other'), 'x');
  t.equal(await modeOf('a'), mem.files.get('/a')!.mode & 0o7777);
  const before = await modeOf('other');
  mem.files.get('/a')!.mode = 0o100600;
  mem.files.get('/other')!.mode = 0o100600;
  t.not(await modeOf('a'), 0o600, 'cached: the change is not seen yet');
  t.equal(await mount.invalidateInode(mem.files.get('/a')!.ino), 1, 'one kernel node carried it');
  t.equal(await modeOf('a'), 0o600, 'seen after the drop');
  t.equal(await modeOf('other'), before, 'another inode stays cached');
  t.equal(await mount.invalidateInode(123456789), 0, 'an inode the kernel never saw reaches nothing');
});

t.test('a file with two names is never cached by the kernel', async (t) => {
  await writeFile(join(mnt, 'l1'), 'x');
  const f = mem.files.get('/l1')!;
  f.nlink = 2;
  mem.files.set('/l2', f); // a second name for the same inode, behind the kernel's back
  t.equal((await stat(join(mnt, 'l2'))).nlink, 2);
  f.mode = 0o100640;
  t.equal(await modeOf('l2'), 0o640, 'the change shows without any invalidation');
});

t.test('invalidateEntry drops a cached name', async (t) => {
  await writeFile(join(mnt, 'gone'), 'x');
  await stat(join(mnt, 'gone'));
  mem.files.delete('/gone');
  t.ok(await stat(join(mnt, 'gone')), 'cached: still there');
  t.equal(await mount.invalidateEntry(1, 'gone'), 1);
  await t.rejects(stat(join(mnt, 'gone')), { code: 'ENOENT' }, 'gone after the drop');
});

t.test('nodes the kernel forgets leave the table', async (t) => {
  for (let i = 0; i < 200; i++) await writeFile(join(mnt, `n${i}`), 'x');
  const many = mount.kernelNodes();
  t.ok(many >= 200, `${many} nodes known`);
  // Dropping the dentry and inode caches makes the kernel FORGET every unused node.
  writeLocal('/proc/sys/vm/drop_caches', '2');
  const deadline = Date.now() + 5000;
  while (mount.kernelNodes() > many - 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.ok(mount.kernelNodes() <= many - 200, `${mount.kernelNodes()} left after drop_caches`);
});
