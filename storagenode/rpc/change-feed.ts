import type { Logger } from '../../shared/log.js';
import type { ChangedPush } from '../../shared/protocol/ops.js';
import type { EntryChanges } from '../meta/index.js';
import type { ConnContext } from './server.js';

/** Effects of entries stored this close together go out as one push per connection. */
export const CHANGE_FLUSH_MS = 3;
/** Inodes plus names pending for one connection before they collapse into one `all: true`. */
export const CHANGE_ITEMS_MAX = 1024;
/** A connection with this much unsent output gets no more detail: its pending push becomes `all`, sent once it drains. */
export const CHANGE_BUFFERED_BYTES_MAX = 1 << 20;
/** How often a connection that was too slow is looked at again while it has an `all` pending. */
const SLOW_RETRY_MS = 100;

interface Sub {
  ctx: ConnContext;
  /** The session the connection's last request carried: its own changes are not pushed back to it. */
  session: string | undefined;
  inos: Set<number>;
  entries: Map<string, [number, string]>;
  all: boolean;
}

export interface ChangeFeedOptions {
  /** Whether this node leads now: only the leader pushes (followers apply the same entries). */
  isLeader(): boolean;
  log: Logger;
  flushMs?: number;
  itemsMax?: number;
  bufferedBytesMax?: number;
}

/**
 * The node side of the `changed` push (shared/protocol ChangedPush): what applied entries changed,
 * sent by the leader to every client connection but the originating session's, merged per
 * connection over CHANGE_FLUSH_MS. Memory per connection is bounded (CHANGE_ITEMS_MAX, then `all`),
 * and a connection that does not take its output is never waited for: its detail is dropped for an
 * `all` sent once its buffer drains. Nothing here throws into apply.
 */
export class ChangeFeed {
  private readonly subs = new Map<number, Sub>(); // connId → subscriber
  private timer: NodeJS.Timeout | null = null;
  private readonly flushMs: number;
  private readonly itemsMax: number;
  private readonly bufferedMax: number;

  constructor(private readonly opts: ChangeFeedOptions) {
    this.flushMs = opts.flushMs ?? CHANGE_FLUSH_MS;
    this.itemsMax = opts.itemsMax ?? CHANGE_ITEMS_MAX;
    this.bufferedMax = opts.bufferedBytesMax ?? CHANGE_BUFFERED_BYTES_MAX;
  }

  /** A client connection finished hello: it receives pushes until it closes. */
  attach(ctx: ConnContext): void {
    if (ctx.role !== 'client' || this.subs.has(ctx.connId)) return;
    const sub: Sub = { ctx, session: undefined, inos: new Set(), entries: new Map(), all: false };
    this.subs.set(ctx.connId, sub);
    ctx.onClose(() => this.subs.delete(ctx.connId));
  }

  /** A request on `ctx` carried `session`: the connection is that session's from now on. */
  saw(ctx: ConnContext, session: string): void {
    const sub = this.subs.get(ctx.connId);
    if (sub && sub.session !== session) sub.session = session;
  }

  /** Whether changes are worth working out now (MetaStateMachine.wantChanges). */
  get active(): boolean {
    return this.subs.size > 0 && this.opts.isLeader();
  }

  get subscribers(): number {
    return this.subs.size;
  }

  /** Once a batch is stored (MetaStateMachine.onChanges): queue its effects for every other session. */
  publish(changes: EntryChanges[]): void {
    try {
      if (!this.subs.size || !this.opts.isLeader()) return;
      let queued = false;
      for (const sub of this.subs.values()) {
        if (sub.all) continue;
        for (const c of changes) {
          if (c.session !== undefined && c.session === sub.session) continue;
          for (const ino of c.inos) sub.inos.add(ino);
          for (const e of c.entries) sub.entries.set(`${e[0]}/${e[1]}`, e);
          queued = true;
          if (sub.inos.size + sub.entries.size > this.itemsMax) {
            this.collapse(sub);
            break;
          }
        }
      }
      if (queued) this.schedule(this.flushMs);
    } catch (e) {
      this.opts.log.error(`bug: change feed publish threw: ${(e as Error)?.stack ?? e}`);
    }
  }

  /** This node became leader: entries the old leader applied may never have been pushed. */
  everything(): void {
    if (!this.subs.size) return;
    for (const sub of this.subs.values()) this.collapse(sub);
    this.schedule(this.flushMs);
  }

  private collapse(sub: Sub): void {
    sub.all = true;
    sub.inos.clear();
    sub.entries.clear();
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), ms);
    this.timer.unref();
  }

  private flush(): void {
    this.timer = null;
    let slow = false;
    for (const sub of this.subs.values()) {
      if (!sub.all && !sub.inos.size && !sub.entries.size) continue;
      if ((sub.ctx.bufferedBytes?.() ?? 0) > this.bufferedMax) {
        this.collapse(sub);
        slow = true;
        continue;
      }
      const push: ChangedPush = sub.all ? { inos: [], entries: [], all: true } : { inos: [...sub.inos], entries: [...sub.entries.values()] };
      sub.all = false;
      sub.inos.clear();
      sub.entries.clear();
      try {
        sub.ctx.push('changed', push);
      } catch (e) {
        this.opts.log.error(`bug: changed push to ${sub.ctx.remote} threw: ${(e as Error)?.stack ?? e}`);
      }
    }
    if (slow) this.schedule(SLOW_RETRY_MS);
  }

  /** Stops the timer (node shutdown); pending pushes are dropped. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.subs.clear();
  }
}
