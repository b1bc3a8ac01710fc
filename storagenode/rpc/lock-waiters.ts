import type { Logger } from '../../shared/log.js';
import type { LockGrantedPush, OpArgs, OpResults } from '../../shared/protocol/ops.js';
import type { ConnContext, Outcome } from './server.js';

/** Grants seen before their client registered (a race with the queued reply), kept this many. */
const EARLY_GRANTS_MAX = 4096;

/**
 * Which client connection waits for which queued lock waiter, on this node. Every replica applies
 * the same entries and reports the same grants (MetaStateMachine.onLockGrants); only the node the
 * waiting client registered with (the leader it asked, or any node it re-asked with lockWait after
 * a leader change) has a connection to push `lockGranted` to. The push is a wake-up hint: the
 * client confirms with lockWait, so a lost push costs only a re-ask, never a wrong answer.
 */
export class LockWaiters {
  private readonly conns = new Map<string, ConnContext>(); // `${session}/${waiter}` → connection
  private readonly byConn = new Map<number, Set<string>>();
  private readonly early = new Set<string>();

  constructor(private readonly log: Logger) {}

  /** Lock ops as the handlers see them: `write` proposes the entry and answers once it is applied. */
  async handle(ctx: ConnContext, op: string, args: unknown, write: () => Promise<Outcome>): Promise<Outcome> {
    if (op === 'lockWait') {
      // Register before the entry: a grant applied between the read and a later registration would be missed.
      const a = args as OpArgs<'lockWait'>;
      this.register(a.session, a.waiter, ctx);
      const out = await write();
      if (!out.ok || (out.result as OpResults['lockWait']).state !== 'queued') this.unregister(a.session, a.waiter);
      return out;
    }
    const out = await write();
    if (op === 'lock' && out.ok) {
      const r = out.result as OpResults['lock'];
      if (r.state === 'queued') this.register((args as OpArgs<'lock'>).session, r.waiter, ctx);
    }
    return out;
  }

  /** Called after each stored entry that granted or failed waiters. Never throws (it runs inside apply). */
  granted(grants: LockGrantedPush[]): void {
    for (const g of grants) {
      const key = `${g.session}/${g.waiter}`;
      const ctx = this.conns.get(key);
      if (ctx) {
        this.unregister(g.session, g.waiter);
        this.push(ctx, g);
        continue;
      }
      this.early.add(key);
      if (this.early.size > EARLY_GRANTS_MAX) this.early.delete(this.early.values().next().value as string);
    }
  }

  get registered(): number {
    return this.conns.size;
  }

  private register(session: string, waiter: number, ctx: ConnContext): void {
    const key = `${session}/${waiter}`;
    if (this.early.delete(key)) {
      this.push(ctx, { session, waiter });
      return;
    }
    this.conns.set(key, ctx);
    let keys = this.byConn.get(ctx.connId);
    if (!keys) {
      const mine = (keys = new Set());
      this.byConn.set(ctx.connId, mine);
      // The client re-asks with lockWait on another node when this connection goes.
      ctx.onClose(() => {
        for (const k of mine) if (this.conns.get(k) === ctx) this.conns.delete(k);
        this.byConn.delete(ctx.connId);
      });
    }
    keys.add(key);
  }

  private unregister(session: string, waiter: number): void {
    const key = `${session}/${waiter}`;
    const ctx = this.conns.get(key);
    if (!ctx) return;
    this.conns.delete(key);
    this.byConn.get(ctx.connId)?.delete(key);
  }

  private push(ctx: ConnContext, g: LockGrantedPush): void {
    try {
      ctx.push('lockGranted', g);
    } catch (e) {
      this.log.error(`bug: lockGranted push to ${ctx.remote} threw: ${(e as Error)?.stack ?? e}`);
    }
  }
}
