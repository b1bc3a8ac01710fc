import type { Logger } from '../../shared/log.js';
import type { Ino } from '../../shared/types.js';
import type { ClusterApi } from './types.js';

/**
 * This mount's opens as the cluster counts them (they only decide when an unlinked file is collected).
 * Releases go out in the background, one after another per inode (the cluster client queues and
 * batches them); after a new session, which lost the old one's opens, every open is registered again.
 */
export class OpenRegistrations {
  /** Per inode, the releases still on their way. */
  private readonly pending = new Map<Ino, Promise<void>>();

  constructor(private readonly cluster: ClusterApi, private readonly log: Logger) {}

  /** Queues a release of `ino` behind the earlier ones; a failure is logged. */
  release(ino: Ino): void {
    const next = (this.pending.get(ino) ?? Promise.resolve()).then(() => this.cluster.meta('release', { ino })).then(() => {}, (e: Error) => {
      this.log.warn(`release of inode ${ino} on the cluster failed: ${e.message}`);
    });
    this.pending.set(ino, next);
    void next.then(() => { if (this.pending.get(ino) === next) this.pending.delete(ino); });
  }

  /** Every release queued so far has been sent and answered (unmount). */
  async settled(): Promise<void> {
    await Promise.all([...this.pending.values()]);
  }

  /** `open`: per inode, how many handles this mount has. */
  async reregister(open: Iterable<[Ino, number]>): Promise<void> {
    for (const [ino, handles] of open) {
      for (let i = 0; i < handles; i++) {
        await this.cluster.meta('open', { ino, flags: 0, cred: { uid: 0, gid: 0, groups: [] } }).catch((e) => {
          this.log.warn(`re-registering open inode ${ino}: ${(e as Error).message}`);
        });
      }
    }
  }
}
