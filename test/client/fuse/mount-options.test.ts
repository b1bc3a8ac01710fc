import t from 'tap';
import { buildMountOptions, errnoName, fuseErrno } from '../../../client/fuse/binding.js';

t.test('defaults give big writes, 1 MiB requests and real inode numbers', async (t) => {
  t.same(buildMountOptions(), ['big_writes', 'max_write=1048576', 'max_read=1048576', 'use_ino', 'readdir_ino',
    'fsname=tidefs', 'subtype=tidefs']);
});

t.test('every option maps to its libfuse name, and zero timeouts are kept', async (t) => {
  const o = buildMountOptions({ allowOther: true, defaultPermissions: true, autoUnmount: true, attrTimeoutSec: 0,
    entryTimeoutSec: 0.5, negativeTimeoutSec: 2, autoCache: true, directIo: true, hardRemove: true, fsname: 'tfs:/vol',
    subtype: 'x', extra: ['noforget'] });
  for (const name of ['allow_other', 'default_permissions', 'auto_unmount', 'attr_timeout=0', 'entry_timeout=0.5',
    'negative_timeout=2', 'auto_cache', 'direct_io', 'hard_remove', 'fsname=tfs:/vol', 'subtype=x', 'noforget']) {
    t.ok(o.includes(name), name);
  }
});

t.test('defaults can be switched off', async (t) => {
  const o = buildMountOptions({ bigWrites: false, useIno: false, readdirIno: false });
  t.notOk(o.includes('big_writes'));
  t.notOk(o.includes('use_ino'));
});

t.test('intr never uses SIGUSR1 (it would start the Node inspector)', async (t) => {
  t.ok(buildMountOptions({ intr: true }).includes('intr_signal=12'));
  t.ok(buildMountOptions({ intr: true, intrSignal: 34 }).includes('intr_signal=34'));
});

t.test('rejects values that would inject options or are not numbers', async (t) => {
  t.throws(() => buildMountOptions({ fsname: 'a,allow_other' }), RangeError);
  t.throws(() => buildMountOptions({ extra: ['x,y'] }), RangeError);
  t.throws(() => buildMountOptions({ maxWriteBytes: 1.5 }), RangeError);
  t.throws(() => buildMountOptions({ attrTimeoutSec: -1 }), RangeError);
  t.throws(() => buildMountOptions({ autoCache: true, kernelCache: true }), RangeError);
});

t.test('errno names map to negative Linux numbers and back', async (t) => {
  t.equal(fuseErrno('ENOENT'), -2);
  t.equal(fuseErrno('EAGAIN'), -11);
  t.equal(fuseErrno('EINTR'), -4);
  t.equal(fuseErrno('ENODATA'), -61);
  t.equal(fuseErrno('ENOTSUP'), -95);
  t.equal(errnoName(-2), 'ENOENT');
});
