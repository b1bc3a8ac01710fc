// CPU cost of working out what entries changed (Tx.changes) and queueing it for one listener
// (ChangeFeed.publish), per applied create, on the in-memory state machine: alternating rounds with
// the feed off and on. Prints `metric value unit`. Run: node dist-X/test/storagenode/meta/bench-changes.js
import { silentLogger } from '../../../shared/log.js';
import { ChangeFeed } from '../../../storagenode/rpc/change-feed.js';
import type { ConnContext } from '../../../storagenode/rpc/server.js';
import { Harness, ROOT_INO } from './harness.js';

const N = Number(process.env.BENCH_N ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);

async function round(on: boolean, r: number): Promise<number> {
  const h = await Harness.create();
  let pushes = 0;
  const conn: ConnContext = {
    connId: 1, role: 'client', peerNode: undefined, clientName: 'x', remote: 'x',
    push: () => { pushes++; }, onClose: () => {},
  };
  const feed = new ChangeFeed({ isLeader: () => true, log: silentLogger });
  if (on) {
    feed.attach(conn);
    h.sm.wantChanges = () => feed.active;
    h.sm.onChanges = (c) => feed.publish(c);
  }
  const d = await h.mkdir(ROOT_INO, `d${r}`);
  const t0 = process.cpuUsage();
  const tasks: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    h.nowMs++;
    tasks.push(h.create(d.ino, `f${i}`));
    if (tasks.length >= 16) await tasks.shift(); // a few in flight, so batches form as on a node
  }
  await Promise.all(tasks);
  const u = process.cpuUsage(t0);
  feed.close();
  void pushes;
  return (u.user + u.system) / N;
}

const off: number[] = [], on: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  off.push(await round(false, r));
  on.push(await round(true, r));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`changes.create.feed_off ${median(off).toFixed(1)} us_cpu/op`);
console.log(`changes.create.feed_on ${median(on).toFixed(1)} us_cpu/op`);
console.log(`changes.create.rounds off=${off.map((x) => x.toFixed(1)).join(',')} on=${on.map((x) => x.toFixed(1)).join(',')}`);
