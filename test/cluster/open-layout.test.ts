// An open of a file with data returns its first chunk's layout (shared/protocol/ops.ts OpenLayout),
// read by the leader after the open applied, so a small file is read with no readChunk.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { makeBlockId } from '../../shared/block-id.js';
import { silentLogger } from '../../shared/log.js';
import { ROOT_CRED, S_IFREG } from '../../shared/types.js';
import { ClusterClient } from '../../client/rpc/cluster-client.js';
import { startCluster, TEST_CLUSTER_ID } from '../helpers/cluster.js';

const cred = ROOT_CRED;

/** Three nodes, a started client on them, and a file maker. */
async function clusterClient(t: Parameters<typeof startCluster>[0], name: string) {
  const c = await startCluster(t, { nodes: 3 });
  const m = new ClusterClient({ urls: c.urls, clientName: name, cluster: TEST_CLUSTER_ID, logger: silentLogger });
  t.teardown(() => m.close());
  await m.start();
  const mk = async (file: string) => (await m.meta('mknod', { parent: 1, name: file, mode: S_IFREG | 0o644, rdev: 0, cred })).ino;
  return { m, mk };
}

t.test('open carries the first chunk layout of a file with data, and only then', async (t) => {
  const { m, mk } = await clusterClient(t, 'open-layout');
  const block = makeBlockId(Date.now(), randomBytes(8).toString('hex'));

  const empty = await mk('empty');
  t.equal((await m.meta('open', { ino: empty, flags: 0, cred })).chunk0, undefined, 'an empty file: nothing to carry');
  const dir = await m.meta('open', { ino: 1, flags: 0, cred });
  t.equal(dir.chunk0, undefined, 'a directory: none');

  const small = await mk('small');
  await m.meta('commitWrite', { ino: small, slices: [{ chunk: 0, pos: 0, len: 16384, block, off: 0 }], cred });
  const o = await m.meta('open', { parent: 1, name: 'small', flags: 0, cred });
  t.ok(o.chunk0, 'a small file: carried');
  t.equal(o.chunk0?.version, o.version, 'of the version the open returned');
  t.same(o.chunk0?.slices.map((s) => [s.pos, s.len, s.block]), [[0, 16384, block]]);
  t.same(o.chunk0, await m.meta('readChunk', { ino: small, chunk: 0 }), 'what readChunk answers');

  const many = await mk('many');
  const slices = Array.from({ length: 65 }, (_, i) => ({ chunk: 0, pos: i * 10, len: 5, block, off: 0 }));
  await m.meta('commitWrite', { ino: many, slices, cred });
  t.equal((await m.meta('open', { ino: many, flags: 0, cred })).chunk0, undefined, 'more than 64 slices: left to readChunk');
});

t.test('a read-only open of a small file carries its bytes, read and checked by the leader', async (t) => {
  const { m, mk } = await clusterClient(t, 'open-inline');
  const put = async (bytes: Buffer) => {
    const id = makeBlockId(Date.now(), randomBytes(8).toString('hex'));
    await m.putBlock(id, bytes);
    return id;
  };

  const data = randomBytes(20000);
  const a = await put(data);
  const b = await put(Buffer.from('overwritten'));
  const small = await mk('small');
  await m.meta('commitWrite', { ino: small, slices: [{ chunk: 0, pos: 0, len: 20000, block: a, off: 0 }, { chunk: 0, pos: 100, len: 11, block: b, off: 0 }], cred });
  const o = await m.meta('openRead', { parent: 1, name: 'small', flags: 0, cred });
  t.same(o.blocks0?.map((x) => [x.block, x.off, Buffer.from(x.data)]), [[a, 0, data], [b, 0, Buffer.from('overwritten')]], 'each slice\'s bytes');
  t.equal((await m.meta('open', { ino: small, flags: 0, cred })).blocks0, undefined, 'a registered open does not carry them');

  const bigData = randomBytes(70000);
  const big = await mk('big');
  await m.meta('commitWrite', { ino: big, slices: [{ chunk: 0, pos: 0, len: bigData.length, block: await put(bigData), off: 0 }], cred });
  const ob = await m.meta('openRead', { ino: big, flags: 0, cred });
  t.ok(ob.chunk0, 'a larger file: its layout');
  t.equal(ob.blocks0, undefined, 'but not its bytes');

  const lost = await mk('lost');
  await m.meta('commitWrite', { ino: lost, slices: [{ chunk: 0, pos: 0, len: 10, block: makeBlockId(Date.now(), randomBytes(8).toString('hex')), off: 0 }], cred });
  const ol = await m.meta('openRead', { ino: lost, flags: 0, cred });
  t.ok(ol.chunk0 && ol.blocks0 === undefined, 'a block the leader does not hold: layout only');
});
