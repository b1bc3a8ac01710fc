import type { Attr, Ino } from '../../shared/types.js';
import type { Logger } from '../../shared/log.js';

/** Drops what the kernel caches for this mount (client/fuse/mount.ts implements it over /dev/fuse). */
export interface KernelInvalidator {
  /** The attributes of `ino` under every name the kernel holds (and with `data`, its cached pages); resolves with the names reached. */
  invalidateInode(ino: Ino, data?: boolean): Promise<number>;
  /** The kernel's cached name `name` in directory `parent`. */
  invalidateEntry(parent: Ino, name: string): Promise<number>;
}

/**
 * How long the kernel (attr_timeout, entry_timeout) keeps attributes and names: NFS's acregmax. Only a bound for missed invalidations: changes reach both caches by
 * invalidation, this mount's own at once and other mounts' through the cluster's `changed` pushes.
 */
export const KERNEL_CACHE_SEC = 60;
/**
 * How long the client's path cache keeps names (VfsOptions.namesTtlMs): longer than the kernel, so a
 * sweep over a directory larger than what one minute covers (stat of 100,000 names) is answered here
 * when the kernel's entries lapse. Coherent the same way (pushes; `all` after any gap).
 */
export const NAMES_CACHE_SEC = 600;

/** How many inodes' served versions are remembered; older ones count as unknown (and are invalidated). */
const TRACKED_MAX = 100_000;
/** Served stamp meaning: the kernel holds nothing stale (it was invalidated and has not asked again). */
const NOTHING_STALE = 'none';

/**
 * What tells two states of an inode's attributes apart. The leader's clock stamps ctime in
 * milliseconds, so two changes in one millisecond share it: the stamp also carries the attributes a
 * change moves (a create and a link in the same millisecond differ in nlink).
 */
type Stamp = Pick<Attr, 'version' | 'ctime' | 'mtime' | 'nlink' | 'mode' | 'uid' | 'gid' | 'size'>;

const key = (a: Stamp): string =>
  `${a.version}/${a.ctime[0]}.${a.ctime[1]}/${a.mtime[0]}.${a.mtime[1]}/${a.nlink}/${a.mode}/${a.uid}/${a.gid}/${a.size}`;
/** a was made before b: replies may arrive out of order, and an older one must not replace a newer. */
const older = (a: Stamp, b: Stamp): boolean =>
  a.version !== b.version ? a.version < b.version : a.ctime[0] !== b.ctime[0] ? a.ctime[0] < b.ctime[0] : a.ctime[1] < b.ctime[1];

/**
 * Keeps the kernel's attribute and name caches (attr_timeout/entry_timeout > 0) coherent with the
 * cluster. The kernel keeps its own changes right per name; what it cannot know:
 * - a newer version of an inode than it was served, learnt here (another mount's close shows in the
 *   attributes our open fetches: close-to-open; a data commit at close moves mtime after the kernel's
 *   last getattr; link changes the link count seen under the other names): `settle` drops the
 *   kernel's copy before the op answers;
 * - another mount's changes, from the cluster's `changed` pushes: `drop*`, as they arrive.
 * Files with several links are never cached by the kernel at all (the channel sets their attribute
 * timeout to 0, see patches/ kernel-view.c), so one name's change cannot hide behind another's copy.
 */
export class KernelCache {
  /** ino → the stamp of the attributes the kernel was last given (NOTHING_STALE after an invalidation). */
  private readonly served = new Map<Ino, string>();
  /** ino → the newest attributes this mount has seen, and their key. */
  private readonly learned = new Map<Ino, { stamp: Stamp; key: string }>();

  constructor(private readonly kernel: KernelInvalidator, private readonly log: Logger) {}

  /** The kernel is being given these attributes (getattr answers). */
  serve(a: Attr): void {
    remember(this.served, a.ino, key(a));
    this.learn(a);
  }

  /** This mount learnt these attributes (any reply carrying them). */
  learn(a: Attr): void {
    const l = this.learned.get(a.ino);
    if (l !== undefined && older(a, l.stamp)) return;
    const stamp: Stamp = { version: a.version, ctime: a.ctime, mtime: a.mtime, nlink: a.nlink, mode: a.mode, uid: a.uid, gid: a.gid, size: a.size };
    remember(this.learned, a.ino, { stamp, key: key(stamp) });
  }

  /** Resolves once the kernel holds nothing older than what this mount has learnt of `ino`. */
  async settle(ino: Ino): Promise<void> {
    const l = this.learned.get(ino);
    if (l === undefined) return;
    const s = this.served.get(ino);
    if (s === NOTHING_STALE || s === l.key) return;
    await this.dropInode(ino);
  }

  /** Drops the kernel's attributes of `ino` (another mount changed it, or this one learnt newer). */
  async dropInode(ino: Ino): Promise<void> {
    remember(this.served, ino, NOTHING_STALE);
    try {
      await this.kernel.invalidateInode(ino);
    } catch (e) {
      // The kernel refused (not an unknown node: that resolves): its copy expires by its timeout.
      this.log.warn(`could not drop the kernel's cached attributes of inode ${ino}: ${(e as Error).message}`);
    }
  }

  /**
   * Drops the kernel's attributes and cached pages of `ino`: a lock was granted here, and the holder
   * must read what the previous holder (on any mount) committed, also through a file it kept open.
   */
  async dropInodeData(ino: Ino): Promise<void> {
    remember(this.served, ino, NOTHING_STALE);
    try {
      await this.kernel.invalidateInode(ino, true);
    } catch (e) {
      this.log.warn(`could not drop the kernel's cached pages of inode ${ino}: ${(e as Error).message}`);
    }
  }

  /** Drops the kernel's cached name `name` in directory `parent`. */
  async dropEntry(parent: Ino, name: string): Promise<void> {
    try {
      await this.kernel.invalidateEntry(parent, name);
    } catch (e) {
      this.log.warn(`could not drop the kernel's cached name ${name} in directory inode ${parent}: ${(e as Error).message}`);
    }
  }

  /** Drops the attributes of every inode the kernel was served (the change feed had a gap). */
  async dropAll(): Promise<void> {
    const inos = [...this.served.keys()].filter((ino) => this.served.get(ino) !== NOTHING_STALE);
    for (let i = 0; i < inos.length; i += 256) await Promise.all(inos.slice(i, i + 256).map((ino) => this.dropInode(ino)));
  }
}

/** Sets ino → v as the newest entry, forgetting the oldest past TRACKED_MAX. */
function remember<V>(m: Map<Ino, V>, ino: Ino, v: V): void {
  m.delete(ino);
  m.set(ino, v);
  if (m.size > TRACKED_MAX) m.delete(m.keys().next().value as Ino);
}
