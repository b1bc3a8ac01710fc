import { join } from 'node:path';
import t from 'tap';
import { RpcError } from '../../shared/rpc/rpc-error.js';
import { startCluster } from '../helpers/cluster.js';
import { mountFs } from '../helpers/mount.js';
import { flipRecordByte, lastPayloadByte } from '../storagenode/blocks/segment-tools.js';
import { tidefs, Workload } from './helpers.js';

/**
 * Flips the last byte of each block's stored bytes in a stopped node's blob store (the default
 * backend): in its segment file, where a bad sector or a stray write would hit (layout:
 * storagenode/blocks/README.md).
 */
async function corrupt(dataDir: string, ids: string[]): Promise<void> {
  for (const id of ids) flipRecordByte(join(dataDir, 'blocks'), id, lastPayloadByte, 0xff);
}

t.test('faults: a corrupted copy is detected on read and by scrub, and repaired from a good replica', async (t) => {
  const c = await startCluster(t, { nodes: 3, nodeArgs: ['--repair-every-ms', '60000', '--scrub-every-ms', '8000', '--scrub-bytes-per-sec', '67108864'] });
  const m = await mountFs(t, c.urls);
  const w = new Workload(m.dir, 200_000);
  w.start(1);
  await c.waitFor(() => w.acked.size >= 8, 60_000, '8 files');
  await w.stop();
  const { ids } = await c.call('n1', 'refList', { limit: 100 });
  t.ok(ids.length >= 2);
  const [onRead, onScrub] = [ids[0]!, ids[1]!];
  const restartCorrupted = async (id: string) => {
    await c.kill('n2', 'SIGTERM');
    await corrupt(c.node('n2').dataDir, [id]);
    c.spawnNode(c.node('n2'));
    await c.waitFor(async () => (await c.status('n2').catch(() => null)) !== null, 20_000, 'n2 back');
  };
  await restartCorrupted(onRead);

  // On read: the node refuses the bad copy (the client then reads another replica) and repairs it.
  const err = await c.call('n2', 'blockGet', { id: onRead }).then(() => null, (e: RpcError) => e);
  t.equal(err?.code, 'BAD_CHECKSUM', 'a read of the corrupt copy is refused with BAD_CHECKSUM');
  await c.waitFor(async () => (await c.call('n2', 'blockGet', { id: onRead }).then(() => true, () => false)), 20_000, 'the read-detected copy repaired');
  t.pass(`n2's copy of ${onRead} was repaired after the read found it corrupt`);
  t.same(await w.verify(), [], 'files read back correctly through the mount');

  // By scrub: the other copy is corrupted only now, with the mount gone, so that no client read can
  // meet it before the scrub pass does (a read would detect and repair it first).
  await m.unmount();
  await restartCorrupted(onScrub);
  await c.waitFor(async () => {
    const s = (await c.status('n2')).repair?.scrub;
    return !!s && s.repaired >= 1 && !s.running;
  }, 60_000, 'a scrub pass on n2 that repaired a block');
  const s = (await c.status('n2')).repair!.scrub;
  t.comment(`n2 scrub pass ${s.pass}: ${s.checked}/${s.total} checked, ${s.corrupt} corrupt, ${s.repaired} repaired`);
  t.ok(await c.call('n2', 'blockGet', { id: onScrub }).then(() => true, () => false), 'the scrub-detected copy reads back good');
  const st = tidefs(['status', c.urls.join(',')]);
  t.match(st.out, /n2: scrub pass \d+: \d+\/\d+ checked/, 'status shows scrub progress');
  const fsck = tidefs(['fsck', c.urls.join(',')]);
  t.equal(fsck.code, 0, `fsck clean: ${fsck.out.trim().split('\n').slice(-1)[0]}`);
});
