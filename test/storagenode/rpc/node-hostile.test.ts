import t from 'tap';
import { FRAME_BYTES_MAX } from '../../../shared/limits.js';
import { PROTOCOL_VERSION } from '../../../shared/protocol/handshake.js';
import { encodeFrame } from '../../../shared/wire/codec.js';
import { ROOT_CRED } from '../../../shared/types.js';
import { startCluster, TEST_CLUSTER_ID } from '../../helpers/cluster.js';
import { RawConn, rng } from './harness.js';

const SEED = Number(process.env.TIDEFS_FUZZ_SEED ?? 7);
const HELLO = { protocol: PROTOCOL_VERSION, cluster: TEST_CLUSTER_ID, role: 'client' as const };

t.test('node: hostile input against a real node process leaves it serving (1 node)', async (t) => {
  const c = await startCluster(t, { nodes: 1 });
  const url = c.urls[0]!;
  const client = await c.client();

  const wrongCluster = await RawConn.open(url);
  wrongCluster.sendFrame({ id: 1, op: 'hello', args: { ...HELLO, cluster: 'someone-else' } });
  t.match(await wrongCluster.reply(1), { ok: false, code: 'UNAUTHORIZED' }, 'another cluster id is refused');

  const early = await RawConn.open(url);
  early.sendFrame({ id: 3, op: 'mkdir', args: { parent: 1, name: 'x', mode: 0o755, cred: ROOT_CRED } });
  t.match(await early.reply(3), { ok: false, code: 'UNAUTHORIZED' }, 'a write before hello is refused');

  const peerOnly = await RawConn.shaken(url, HELLO);
  peerOnly.sendFrame({ id: 2, op: 'raft', args: { msg: { type: 'app', term: 99 } } });
  t.match(await peerOnly.reply(2), { ok: false, code: 'UNAUTHORIZED' }, 'a client cannot inject Raft messages');
  peerOnly.sendFrame({ id: 3, op: 'mkdir', args: { parent: 1, name: 7, mode: 0o755, cred: ROOT_CRED } });
  t.match(await peerOnly.reply(3), { ok: false, code: 'PROTOCOL', message: /args\.name/ }, 'a bad argument is named');
  peerOnly.close();

  // A peer that sends garbage Raft messages must not hurt the node either: the driver validates them.
  const peer = await RawConn.shaken(url, { ...HELLO, role: 'peer', node: 'n9' });
  const rand = rng(SEED);
  for (let i = 0; i < 200; i++) {
    const junk = [{}, { type: 'app', term: rand() * 1e9, from: 'n9', to: 'n1', entries: 'x' }, { type: 'snapChunk', data: 5 }, null, [1, 2]][i % 5];
    peer.sendFrame({ id: 0, op: 'raft', args: { msg: junk } });
  }
  const big = await RawConn.shaken(url, HELLO);
  big.sendRaw(Buffer.alloc(FRAME_BYTES_MAX + 10));
  t.equal(await big.closed, 1009, 'an oversized frame closes the connection');
  const broken = await RawConn.shaken(url, HELLO);
  broken.sendRaw(encodeFrame({ id: 5, op: 'getattr', args: { ino: 1 } }).subarray(0, 5));
  await broken.closed;

  const d = await client.call('mkdir', { parent: 1, name: 'still-here', mode: 0o755, cred: ROOT_CRED });
  t.ok(d.ino > 1, 'a well-behaved client still creates a directory afterwards');
  t.ok(c.isRunning('n1'), 'the node process is still running');
  peer.close();
  client.close();
});
