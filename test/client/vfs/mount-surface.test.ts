import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, chmodSync, existsSync, lstatSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../../helpers/cluster.js';
import { mountFs } from '../../helpers/mount.js';
import { hasCallerContext } from '../../../client/fuse/mount.js';

/** Runs a python3 snippet, optionally as another uid/gid; returns its stdout (or the errno name it prints). */
function py(code: string, cred?: { uid: number; gid: number }): string {
  const pre = cred ? `import os\nos.setgroups([])\nos.setgid(${cred.gid})\nos.setuid(${cred.uid})\n` : '';
  const wrapped = `${pre}import os, errno, sys\ntry:\n${code.split('\n').map((l) => '    ' + l).join('\n')}\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n`;
  const r = spawnSync('python3', ['-c', wrapped], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return r.stdout.trim();
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

t.test('mount surface on one 3-node cluster', async (t) => {
  const cluster = await startCluster(t, { nodes: 3 });
  const a = await mountFs(t, cluster.urls);
  const b = await mountFs(t, cluster.urls, { strict: true });

  t.test('a big file (24 MiB, several blocks and commits) reads back intact', async (t) => {
    const data = randomBytes(24 * 1024 * 1024 + 777);
    await fsp.writeFile(join(a.dir, 'big'), data);
    t.equal(statSync(join(a.dir, 'big')).size, data.length);
    t.equal(sha(await fsp.readFile(join(a.dir, 'big'))), sha(data), 'same mount');
    t.equal(sha(await fsp.readFile(join(b.dir, 'big'))), sha(data), 'other mount');
  });

  t.test('a sparse file past 4 GiB reads zeros in the hole', async (t) => {
    const fh = await fsp.open(join(a.dir, 'sparse'), 'w+');
    const off = 5 * 2 ** 30 + 12345;
    await fh.write(Buffer.from('tail'), 0, 4, off);
    await fh.close();
    t.equal(statSync(join(b.dir, 'sparse')).size, off + 4);
    const rd = await fsp.open(join(b.dir, 'sparse'), 'r');
    const buf = Buffer.alloc(8);
    await rd.read(buf, 0, 8, off - 4);
    t.same(buf, Buffer.concat([Buffer.alloc(4), Buffer.from('tail')]));
    await rd.read(buf, 0, 8, 2 ** 32);
    t.same(buf, Buffer.alloc(8), 'zeros at 4 GiB');
    await rd.close();
  });

  t.test('an unlinked open file stays readable and writable until close', async (t) => {
    const p = join(a.dir, 'doomed');
    const fh = await fsp.open(p, 'w+');
    await fh.write('before ');
    await fsp.unlink(p);
    t.notOk(existsSync(p));
    await fh.write('after', 7);
    const buf = Buffer.alloc(12);
    const { bytesRead } = await fh.read(buf, 0, 12, 0);
    t.equal(buf.subarray(0, bytesRead).toString(), 'before after');
    await fh.close();
    t.notOk((await fsp.readdir(a.dir)).some((n) => n.startsWith('.fuse_hidden')), 'no hidden leftovers after close');
  });

  t.test('symlink, readlink, hard link', async (t) => {
    writeFileSync(join(a.dir, 'target'), 'T');
    await fsp.symlink('target', join(a.dir, 'sl'));
    t.equal(readlinkSync(join(a.dir, 'sl')), 'target');
    t.ok(lstatSync(join(a.dir, 'sl')).isSymbolicLink());
    t.equal(readFileSync(join(b.dir, 'sl'), 'utf8'), 'T');
    await fsp.link(join(a.dir, 'target'), join(a.dir, 'hard'));
    t.equal(statSync(join(a.dir, 'target')).nlink, 2, 'link count seen through the other name at once');
    t.equal(statSync(join(a.dir, 'hard')).ino, statSync(join(a.dir, 'target')).ino);
  });

  t.test('chmod, chown, and permissions for another uid', async (t) => {
    const p = join(a.dir, 'perm');
    writeFileSync(p, 'secret');
    chmodSync(p, 0o600);
    t.equal(py(`open(${JSON.stringify(p)}).read()`, { uid: 65534, gid: 65534 }), 'EACCES');
    await fsp.chown(p, 65534, 65534);
    t.equal(statSync(p).uid, 65534);
    t.equal(py(`print(open(${JSON.stringify(p)}).read())`, { uid: 65534, gid: 65534 }), 'secret', 'the new owner reads');
    t.equal(py(`os.chown(${JSON.stringify(p)}, 0, 0)`, { uid: 65534, gid: 65534 }), 'EPERM', 'a user cannot give a file away');
    const d = join(a.dir, 'shared');
    await fsp.mkdir(d, 0o777);
    chmodSync(d, 0o777);
    py(`open(${JSON.stringify(join(d, 'mine'))}, 'w').write('x')`, { uid: 65534, gid: 65534 });
    t.equal(statSync(join(d, 'mine')).uid, 65534, 'a file belongs to the uid that created it',
      { todo: hasCallerContext() ? false : 'the fuse-native binding does not expose the caller (fuse_get_context) yet' });
  });

  t.test('xattrs: set, get, list, size probe, ENODATA, XATTR_CREATE', async (t) => {
    const p = join(a.dir, 'x');
    writeFileSync(p, '');
    t.equal(py(`os.setxattr(${JSON.stringify(p)}, 'user.color', b'blue')\nprint(os.getxattr(${JSON.stringify(p)}, 'user.color').decode())`), 'blue');
    t.equal(py(`print(os.listxattr(${JSON.stringify(p)}))`), "['user.color']");
    t.equal(py(`os.getxattr(${JSON.stringify(p)}, 'user.none')`), 'ENODATA');
    t.equal(py(`os.setxattr(${JSON.stringify(p)}, 'user.color', b'red', os.XATTR_CREATE)`), 'EEXIST');
    t.equal(py(`os.removexattr(${JSON.stringify(p)}, 'user.color')\nprint(os.listxattr(${JSON.stringify(p)}))`), '[]');
  });

  t.test('close-to-open across two mounts: data, size, mtime, rename, unlink', async (t) => {
    const pa = join(a.dir, 'cto');
    const pb = join(b.dir, 'cto');
    writeFileSync(pa, 'version one');
    t.equal(readFileSync(pb, 'utf8'), 'version one');
    const m1 = statSync(pb).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await fsp.appendFile(pa, ' and two');
    t.equal(readFileSync(pb, 'utf8'), 'version one and two');
    t.equal(statSync(pb).size, 19);
    t.ok(statSync(pb).mtimeMs > m1, 'mtime moved');
    await fsp.rename(pa, join(a.dir, 'cto2'));
    t.notOk(existsSync(pb));
    t.equal(readFileSync(join(b.dir, 'cto2'), 'utf8'), 'version one and two');
    await fsp.unlink(join(a.dir, 'cto2'));
    t.notOk(existsSync(join(b.dir, 'cto2')));
    // And the other way round, into the default (cached) mount.
    writeFileSync(join(b.dir, 'back'), 'from b');
    t.equal(readFileSync(join(a.dir, 'back'), 'utf8'), 'from b');
    writeFileSync(join(b.dir, 'back'), 'from b again');
    t.equal(readFileSync(join(a.dir, 'back'), 'utf8'), 'from b again');
  });

  t.test('truncate grows and shrinks through the mount', async (t) => {
    const p = join(a.dir, 'tr');
    writeFileSync(p, '0123456789');
    await fsp.truncate(p, 3);
    t.equal(readFileSync(join(b.dir, 'tr'), 'utf8'), '012');
    await fsp.truncate(p, 6);
    t.same(readFileSync(join(b.dir, 'tr')), Buffer.from('012\0\0\0', 'latin1'));
  });

  t.test('statfs reports capacity', async (t) => {
    const s = await fsp.statfs(a.dir);
    t.ok(s.blocks > 0 && s.bsize > 0, `blocks ${s.blocks} of ${s.bsize}`);
  });
});
