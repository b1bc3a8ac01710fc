import t from 'tap';
import { silentLogger } from '../../../shared/log.js';
import type { ChangedPush } from '../../../shared/protocol/ops.js';
import { ChangeFeed } from '../../../storagenode/rpc/change-feed.js';
import type { ConnContext, Role } from '../../../storagenode/rpc/server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class FakeConn implements ConnContext {
  static next = 1;
  readonly connId = FakeConn.next++;
  readonly peerNode = undefined;
  readonly clientName = 'fake';
  readonly remote = 'fake';
  pushes: ChangedPush[] = [];
  buffered = 0;
  private closers: (() => void)[] = [];
  constructor(readonly role: Role = 'client') {}
  push(name: string, data: unknown): void {
    if (name === 'changed') this.pushes.push(data as ChangedPush);
  }
  onClose(cb: () => void): void {
    this.closers.push(cb);
  }
  bufferedBytes(): number {
    return this.buffered;
  }
  close(): void {
    for (const c of this.closers.splice(0)) c();
  }
}

function feed(opts: { leader?: () => boolean; itemsMax?: number } = {}): ChangeFeed {
  return new ChangeFeed({ isLeader: opts.leader ?? (() => true), log: silentLogger, flushMs: 2, ...(opts.itemsMax ? { itemsMax: opts.itemsMax } : {}) });
}

t.test('change feed: merges, dedupes, skips the originating session, one push per window', async (t) => {
  const f = feed();
  const a = new FakeConn(), b = new FakeConn(), admin = new FakeConn('admin');
  for (const c of [a, b, admin]) f.attach(c);
  f.saw(a, 'sa');
  t.equal(f.subscribers, 2, 'client connections only');
  f.publish([{ session: 'sa', inos: [5, 1], entries: [[1, 'x']] }]);
  f.publish([{ session: 'sb', inos: [5, 7], entries: [[1, 'x'], [1, 'y']] }, { session: undefined, inos: [9], entries: [] }]);
  t.same(b.pushes, [], 'nothing before the window ends');
  await sleep(20);
  t.same(b.pushes, [{ inos: [5, 1, 7, 9], entries: [[1, 'x'], [1, 'y']] }], 'b: one merged push');
  t.same(a.pushes, [{ inos: [5, 7, 9], entries: [[1, 'x'], [1, 'y']] }], "a: all but its own session's");
  t.same(admin.pushes, [], 'admin connections hear nothing');
  f.close();
});

t.test('change feed: bounded: too many items or a slow connection become all', async (t) => {
  const f = feed({ itemsMax: 10 });
  const a = new FakeConn(), slow = new FakeConn();
  f.attach(a);
  f.attach(slow);
  slow.buffered = 10 << 20;
  f.publish([{ session: undefined, inos: Array.from({ length: 50 }, (_, i) => i + 2), entries: [] }]);
  f.publish([{ session: undefined, inos: [100], entries: [] }]);
  await sleep(20);
  t.same(a.pushes, [{ inos: [], entries: [], all: true }], 'more than itemsMax: all');
  t.same(slow.pushes, [], 'a connection with a full buffer gets nothing');
  for (let i = 0; i < 100; i++) f.publish([{ session: undefined, inos: [i + 1000], entries: [[1, `n${i}`]] }]);
  slow.buffered = 0;
  await sleep(150);
  t.same(slow.pushes, [{ inos: [], entries: [], all: true }], 'once it drains: one all, its detail dropped');
  f.close();
});

t.test('change feed: only the leader pushes; a new leader tells everyone all; closed connections are forgotten', async (t) => {
  let leader = false;
  const f = feed({ leader: () => leader });
  const a = new FakeConn();
  f.attach(a);
  t.equal(f.active, false, 'not leading: not active');
  f.publish([{ session: undefined, inos: [3], entries: [] }]);
  await sleep(10);
  t.same(a.pushes, [], 'a follower pushes nothing');
  leader = true;
  f.everything();
  await sleep(10);
  t.same(a.pushes, [{ inos: [], entries: [], all: true }], 'elected: all');
  a.close();
  t.equal(f.subscribers, 0);
  t.equal(f.active, false, 'no client: not active');
  f.close();
});
