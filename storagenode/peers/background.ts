import type { Logger } from '../../shared/log.js';
import { ORPHAN_GRACE_MS_DEFAULT, REAP_EVERY_MS_DEFAULT } from '../../shared/limits.js';
import { timeFromMs } from '../../shared/time.js';
import type { BlockStore } from '../blocks/block-store.js';
import { BlockCollector } from '../blocks/collector.js';
import type { NodeConfig } from '../config.js';
import { encodeCommand, type MetaStateMachine } from '../meta/index.js';
import type { RaftNode } from '../raft/driver.js';
import type { PeerLinks } from './links.js';

export interface BackgroundDeps {
  cfg: NodeConfig;
  raft: RaftNode;
  meta: MetaStateMachine;
  blocks: BlockStore;
  peers: PeerLinks;
  disks: { refresh(): Promise<void> };
  now(): number;
  log: Logger;
}

export interface Background {
  stop(): void;
}

/**
 * Periodic work of a node: on the leader, expiring lapsed sessions (the leader's clock goes into the
 * entry, so every replica expires the same ones) and reaping unlinked files past their grace period;
 * on every node, refreshing disk figures and one slow round of block garbage collection. Each task runs at most once at a time; a failure is logged and
 * the next round tries again.
 */
export function startBackground(d: BackgroundDeps): Background {
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  const every = (ms: number, name: string, task: () => Promise<void>) => {
    let running = false;
    const t = setInterval(() => {
      if (running || stopped) return;
      running = true;
      task().catch((e: Error) => d.log.warn(`${name} failed: ${e.message}`)).finally(() => (running = false));
    }, ms);
    t.unref();
    timers.push(t);
  };

  every(d.cfg.expireEveryMs, 'session expiry', async () => {
    if (d.raft.status().role !== 'leader') return;
    const r = (await d.raft.propose(encodeCommand({ op: 'expireSessions', args: {}, now: timeFromMs(d.now()) }))) as
      { ok: boolean; value?: { expired: string[] } };
    if (r.ok && r.value && r.value.expired.length) d.log.info(`expired ${r.value.expired.length} lapsed session(s)`);
  });
  every(d.cfg.reapEveryMs ?? REAP_EVERY_MS_DEFAULT, 'orphan reaping', async () => {
    const graceMs = d.cfg.orphanGraceMs ?? ORPHAN_GRACE_MS_DEFAULT;
    for (let more = true; more && d.raft.status().role === 'leader';) {
      const beforeMs = d.now() - graceMs;
      if (!(await d.meta.orphansDue(beforeMs))) return;
      const r = (await d.raft.propose(encodeCommand({ op: 'reapOrphans', args: { before: timeFromMs(beforeMs) }, now: timeFromMs(d.now()) }))) as
        { ok: boolean; value?: { reaped: number; more: boolean } };
      if (!r.ok || !r.value) return;
      if (r.value.reaped) d.log.debug(`deleted ${r.value.reaped} unlinked file(s) whose grace period had passed`);
      more = r.value.more;
    }
  });
  every(2000, 'disk refresh', () => d.disks.refresh());
  const gc = makeGc(d);
  every(d.cfg.gcEveryMs, 'block GC', gc.run);

  return {
    stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      gc.stop();
    },
  };
}

/** Asks the leader (linearizably) whether committed metadata still names each block. */
export function isReferencedVia(d: BackgroundDeps): (ids: string[]) => Promise<boolean[]> {
  return async (ids) => {
    const s = d.raft.status();
    if (s.role === 'leader') {
      await d.raft.readBarrier();
      return d.meta.blocksReferenced(ids);
    }
    if (!s.leader) throw new Error('no leader known; GC waits');
    return (await d.peers.call(s.leader, 'blocksReferenced', { ids }, 10_000)).referenced;
  };
}

/** One collector per node, kept across rounds so each pass resumes where the last one stopped. */
function makeGc(d: BackgroundDeps): { run(): Promise<void>; stop(): void } {
  const collector = new BlockCollector({
    store: d.blocks, isReferenced: isReferencedVia(d), log: d.log.child('gc'),
    clock: { now: d.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms).unref()) },
    rateBlocksPerSec: 200, // low: GC must never compete with clients for the disk
    ...(d.cfg.gcGraceMs ? { graceMs: d.cfg.gcGraceMs } : {}),
  });
  return {
    run: async () => {
      const p = await collector.runPass();
      if (p.deleted) d.log.info(`block GC: deleted ${p.deleted} unreferenced block(s), freed ${p.bytesFreed} bytes`);
    },
    stop: () => collector.stop(),
  };
}
