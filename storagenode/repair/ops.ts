import type { Logger } from '../../shared/log.js';
import type { OpArgs, OpName } from '../../shared/protocol/ops.js';
import type { BlockStore } from '../blocks/block-store.js';
import type { Outcome } from '../rpc/server.js';
import type { RepairService } from './service.js';

/** The repair, drain and fsck ops; peers and admins only (storagenode/rpc/handlers.ts routes them here). */
export const REPAIR_OPS = ['repairView', 'nodeDrain', 'refList', 'blockList', 'blockDelete', 'blockRepair'] as const;
export type RepairOp = (typeof REPAIR_OPS)[number];
export const isRepairOp = (op: OpName): op is RepairOp => (REPAIR_OPS as readonly string[]).includes(op);

export interface RepairOpDeps {
  repair: RepairService;
  blocks: BlockStore;
  isLeader(): boolean;
  notLeader(): Outcome;
  log: Logger;
}

export async function handleRepairOp(d: RepairOpDeps, op: RepairOp, args: unknown): Promise<Outcome> {
  try {
    switch (op) {
      case 'repairView':
        return d.isLeader() ? { ok: true, result: d.repair.health.view() } : d.notLeader();
      case 'nodeDrain': {
        if (!d.isLeader()) return d.notLeader();
        const a = args as OpArgs<'nodeDrain'>;
        return { ok: true, result: { draining: d.repair.health.drain(a.id, a.action) } };
      }
      case 'refList': {
        const a = args as OpArgs<'refList'>;
        return { ok: true, result: { ids: await d.repair.referencedBlocks(a.after, a.limit) } };
      }
      case 'blockList': {
        const a = args as OpArgs<'blockList'>;
        const entries = await d.blocks.list({ ...(a.after ? { after: a.after } : {}), limit: a.limit });
        return { ok: true, result: { entries: entries.map((e) => ({ id: e.id, size: e.size, storedAtMs: e.storedAtMs })) } };
      }
      case 'blockDelete':
        return { ok: true, result: await d.repair.deleteOrphans((args as OpArgs<'blockDelete'>).ids) };
      case 'blockRepair':
        return { ok: true, result: await d.repair.repairBlock((args as OpArgs<'blockRepair'>).id) };
    }
  } catch (e) {
    d.log.warn(`${op} failed: ${(e as Error)?.message ?? e}`);
    return { ok: false, code: 'UNAVAILABLE', message: `${op}: ${(e as Error)?.message ?? e}` };
  }
}
