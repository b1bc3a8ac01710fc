import { mkdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../shared/log.js';

import type { NodeInfo } from '../shared/types.js';
import type { BlockStore } from './blocks/block-store.js';
import { openBlockStore } from './blocks/backend.js';
import type { NodeConfig } from './config.js';
import { encodeCommand, MetaStateMachine } from './meta/index.js';
import { PeerLinks } from './peers/links.js';
import { RaftNode } from './raft/driver.js';
import { ADMIN_OPS, makeHandlers, PEER_OPS, type DiskStats, type MetaApi, type RaftApi } from './rpc/handlers.js';
import { RpcServer } from './rpc/server.js';
import { LockWaiters } from './rpc/lock-waiters.js';
import { ChangeFeed } from './rpc/change-feed.js';
import { startBackground, isReferencedVia, type Background } from './peers/background.js';
import { RepairService } from './repair/service.js';

/**
 * One storage node: the metadata state machine, the Raft node replicating it, the block store, the
 * links to the other members and the RPC server, all under one data directory (raft/, meta/, blocks/).
 */
export class StorageNode {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly cfg: NodeConfig,
    readonly server: RpcServer,
    private readonly raft: RaftNode,
    private readonly meta: MetaStateMachine,
    private readonly blocks: BlockStore,
    private readonly peers: PeerLinks,
    private readonly background: Background,
    private readonly log: Logger,
    private readonly repair: RepairService,
    private readonly changeFeed: ChangeFeed,
  ) {}

  static async start(cfg: NodeConfig, log: Logger, now: () => number = Date.now): Promise<StorageNode> {
    for (const sub of ['raft', 'meta', 'blocks']) await mkdir(join(cfg.data, sub), { recursive: true });
    const meta = await MetaStateMachine.open(join(cfg.data, 'meta'));
    const lockWaiters = new LockWaiters(log.child('locks'));
    meta.onLockGrants = (grants) => lockWaiters.granted(grants); // every replica; pushes only where a client waits
    const blocks = await openBlockStore(cfg.blockStore, join(cfg.data, 'blocks'), log.child('blocks'));
    const peers = new PeerLinks({ selfId: cfg.id, cluster: cfg.cluster, logger: log.child('peers') });
    const raft = await RaftNode.open({
      // A joining node starts as a learner with the running cluster as its bootstrap list: the leader's
      // log (after `tidefs node add`) makes it a member, not its own --peers.
      id: cfg.id, dir: join(cfg.data, 'raft'), initialMembers: cfg.join ? cfg.peers.filter((p) => p.id !== cfg.id) : cfg.peers, stateMachine: meta,
      send: (to: string, msg: unknown) => peers.sendRaft(to, msg), logger: log.child('raft'),
      ...(cfg.snapshotEntries ? { snapshotEntries: cfg.snapshotEntries } : {}),
      ...(cfg.snapshotKeepEntries ? { snapshotKeepEntries: cfg.snapshotKeepEntries } : {}),
      ...(cfg.tickMs ? { tickMs: cfg.tickMs } : {}),
      ...(cfg.electionTicks ? { electionTicks: cfg.electionTicks } : {}),
      ...(cfg.heartbeatTicks ? { heartbeatTicks: cfg.heartbeatTicks } : {}),
    });
    peers.setMembers(raft.members());
    // Only the leader pushes `changed`, and only works the changes out while a client is connected.
    const changeFeed = new ChangeFeed({ isLeader: () => raft.isLeader(), log: log.child('feed') });
    meta.wantChanges = () => changeFeed.active;
    meta.onChanges = (changes) => changeFeed.publish(changes);

    const disks = new DiskWatcher(cfg, peers, () => raft.members());
    await disks.refresh();
    const metaApi: MetaApi = {
      query: (op, args) => meta.query(op, args as never),
      usage: () => meta.usage(),
      blocksReferenced: (ids) => meta.blocksReferenced(ids),
      encodeCommand: (cmd) => encodeCommand(cmd as never),
    };
    const repair = makeRepair(cfg, { raft, meta, blocks, peers, now, log });
    const handlers = makeHandlers({
      repair, onCorruptRead: (id) => repair.scrubber.repairSoon(id),
      selfId: cfg.id, cluster: cfg.cluster, replicas: cfg.replicas, raft: raft as unknown as RaftApi, meta: metaApi, blocks,
      now, startedAtMs: now(), disk: () => disks.own, peerDisks: () => disks.peers, peerUp: (id) => peers.isUp(id), log: log.child('rpc'),
      lockWaiters, changeFeed,
    });
    const server = await RpcServer.listen({
      host: cfg.host, port: cfg.port, cluster: cfg.cluster, handlers, logger: log.child('rpc'), peerOps: PEER_OPS, adminOps: ADMIN_OPS,
    });
    const background = startBackground({ cfg, raft, meta, blocks, peers, disks, now, log });
    repair.start();
    const node = new StorageNode(cfg, server, raft, meta, blocks, peers, background, log, repair, changeFeed);
    raft.onLeaderChange((leader: string | null) => node.onLeaderChange(leader));
    const self = cfg.peers.find((p) => p.id === cfg.id)!;
    log.info(`listening on ${self.url} (bound ${cfg.host}:${server.port}), cluster ${cfg.cluster}, ${raft.members().length} members, data in ${cfg.data}`);
    return node;
  }

  private onLeaderChange(leader: string | null): void {
    const s = this.raft.status();
    this.peers.setMembers(this.raft.members());
    if (leader === this.cfg.id) {
      this.log.info(`elected leader for term ${s.term}`);
      this.changeFeed.everything(); // the old leader's last pushes may be lost: connected clients drop their caches
    }
    else if (leader) this.log.info(`following leader ${leader} (term ${s.term})`);
    else this.log.info(`no leader known (term ${s.term}); waiting for an election`);
  }

  /** Closes in dependency order: no new requests, then background work, Raft, links and stores. */
  stop(why: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info(`shutting down (${why})`);
      this.background.stop();
      this.repair.stop();
      await this.server.close();
      this.changeFeed.close();
      await this.raft.close();
      this.peers.close();
      await this.meta.close();
      await this.blocks.close();
      this.log.info('stopped');
    })();
    return this.stopping;
  }
}

/** Repair, scrub and health pings (storagenode/repair); also keeps peer links in step with membership changes. */
function makeRepair(cfg: NodeConfig, d: { raft: RaftNode; meta: MetaStateMachine; blocks: BlockStore; peers: PeerLinks; now: () => number; log: Logger }): RepairService {
  const repairLog = d.log.child('repair');
  return new RepairService({
    selfId: cfg.id, replicas: cfg.replicas, blocks: d.blocks, now: d.now, log: repairLog,
    members: () => {
      const m = d.raft.members();
      d.peers.setMembers(m); // a member added or removed since the last leader change needs (or loses) a link
      return m;
    },
    leader: () => d.raft.status().leader,
    referencedBlocks: (after, limit) => d.meta.referencedBlocks(after, limit),
    isReferenced: isReferencedVia({ cfg, raft: d.raft, meta: d.meta, blocks: d.blocks, peers: d.peers, disks: { refresh: async () => {} }, now: d.now, log: repairLog }),
    call: (to, op, args, timeoutMs) => d.peers.call(to, op, args, timeoutMs),
    lostAfterMs: cfg.lostAfterMs, repairEveryMs: cfg.repairEveryMs, repairBytesPerSec: cfg.repairBytesPerSec,
    scrubEveryMs: cfg.scrubEveryMs, scrubBytesPerSec: cfg.scrubBytesPerSec,
    ...(cfg.gcGraceMs ? { gcGraceMs: cfg.gcGraceMs } : {}),
  });
}

/** This node's disk (fs.statfs of the data dir) and the last figures each peer reported in status. */
export class DiskWatcher {
  own: DiskStats = { totalBytes: 0, freeBytes: 0 };
  readonly peers = new Map<string, DiskStats>();

  constructor(private readonly cfg: NodeConfig, private readonly links: PeerLinks, private readonly members: () => NodeInfo[]) {}

  async refresh(): Promise<void> {
    try {
      const s = await statfs(this.cfg.data);
      this.own = { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
    } catch {
      // keep the last figures; a transient statfs failure must not stop the node
    }
    const others = this.members().filter((m) => m.id !== this.cfg.id);
    for (const id of this.peers.keys()) if (!others.some((m) => m.id === id)) this.peers.delete(id);
    await Promise.all(others.map(async (m) => {
      try {
        const st = await this.links.call(m.id, 'status', {}, 1000);
        this.peers.set(m.id, st.disk);
      } catch {
        // unreachable peers keep their last report: capacity does not vanish with a restart
      }
    }));
  }
}

