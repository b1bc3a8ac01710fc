import t from 'tap';
import { silentLogger } from '../../../shared/log.js';
import type { ChangedPush, OpResults } from '../../../shared/protocol/ops.js';
import type { NodeInfo } from '../../../shared/types.js';
import { ClusterClient, isChangedPush } from '../../../client/rpc/cluster-client.js';
import type { Connector, RpcConn } from '../../../client/rpc/conn-pool.js';

const MEMBERS: NodeInfo[] = [1, 2, 3].map((i) => ({ id: `n${i}`, url: `ws://n${i}` }));

t.test('rpc: changed pushes reach onPush; closes and opens to the leader emit all; malformed ones become all', async (t) => {
  const pushTo = new Map<string, (p: string, d: unknown) => void>();
  const closers = new Map<string, ((why: string) => void)[]>();
  const connector: Connector = async (url, _hello, onPush) => {
    pushTo.set(url, onPush);
    const conn: RpcConn = {
      url, isOpen: true,
      helloReply: { protocol: 1, cluster: 'c', node: url.slice(5), leader: 'ws://n1', members: MEMBERS, replicas: 3 } as OpResults['hello'],
      call: async (op) => (op === 'sessionOpen' ? { session: 's1', leaseMs: 20_000 } : {}) as never,
      onClose: (cb) => closers.set(url, [...(closers.get(url) ?? []), cb]),
      close: () => {},
    };
    return conn;
  };
  const c = new ClusterClient({ urls: ['ws://n1'], clientName: 't', logger: silentLogger, connector });
  const got: [string, unknown][] = [];
  c.onPush = (p, d) => got.push([p, d]);
  await c.start();
  const all: ChangedPush = { inos: [], entries: [], all: true };
  t.same(got, [['changed', all]], 'a new connection to the leader: all');
  got.length = 0;
  await c.pool.get('ws://n2');
  t.same(got, [], 'a new connection to a follower: nothing');
  got.length = 0;
  const real: ChangedPush = { inos: [5], entries: [[1, 'x']] };
  pushTo.get('ws://n1')!('changed', real);
  pushTo.get('ws://n1')!('lockGranted', { session: 's1', waiter: 3 });
  t.same(got, [['changed', real], ['lockGranted', { session: 's1', waiter: 3 }]], 'pushes pass through');
  got.length = 0;
  pushTo.get('ws://n1')!('changed', { inos: ['x'], entries: [] });
  t.same(got, [['changed', all]], 'a malformed changed push becomes all');
  got.length = 0;
  for (const cb of closers.get('ws://n1')!) cb('gone');
  t.same(got, [['changed', all]], 'a closed connection: all');
  c.onPush = () => { throw new Error('handler bug'); };
  pushTo.get('ws://n1')!('changed', real); // must not throw into the connection
  await c.close();
});

t.test('rpc: isChangedPush', async (t) => {
  t.ok(isChangedPush({ inos: [], entries: [] }));
  t.ok(isChangedPush({ inos: [1, 2], entries: [[1, 'a']], all: true }));
  for (const bad of [null, 1, {}, { inos: [-1], entries: [] }, { inos: [1.5], entries: [] }, { inos: [], entries: [[1]] },
    { inos: [], entries: [[1, 2]] }, { inos: [], entries: [], all: false }, { inos: {}, entries: [] }]) {
    t.notOk(isChangedPush(bad), JSON.stringify(bad));
  }
});
