import { FsError } from '../../shared/errno.js';
import { NAME_BYTES_MAX } from '../../shared/limits.js';
import { ROOT_INO, type Attr, type Ino } from '../../shared/types.js';
import type { ClusterApi, VfsClock } from './types.js';

const ENTRIES_MAX = 20_000;

/**
 * Path → inode resolution for fuse-native's path-based API: one lookup per component, with a small
 * cache of directory entries that expires after the kernel's entry timeout (0 in strict mode) and is
 * invalidated by this mount's own rename/unlink/rmdir. Final components are always looked up afresh
 * by callers that need attributes, so a stat never serves a stale inode from here.
 */
export class PathCache {
  private readonly entries = new Map<string, { ino: Ino; expiresMs: number }>();

  constructor(private readonly cluster: ClusterApi, private readonly clock: VfsClock, private readonly ttlMs: number) {}

  /** Splits '/a/b/c' into the parent path '/a/b' and the name 'c'. */
  static split(path: string): { parent: string; name: string } {
    const i = path.lastIndexOf('/');
    const name = path.slice(i + 1);
    if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw new FsError('ENAMETOOLONG');
    return { parent: i <= 0 ? '/' : path.slice(0, i), name };
  }

  /** The inode of a directory path (or any path), through cached entries where fresh. */
  async ino(path: string): Promise<Ino> {
    if (path === '/' || path === '') return ROOT_INO;
    const hit = this.entries.get(path);
    if (hit && hit.expiresMs > this.clock.nowMs()) return hit.ino;
    const { parent, name } = PathCache.split(path);
    const attr = await this.lookupIn(await this.ino(parent), name, path);
    return attr.ino;
  }

  /** A fresh lookup of the last component: the attributes as the cluster has them now. */
  async attr(path: string): Promise<Attr> {
    if (path === '/' || path === '') return this.cluster.meta('getattr', { ino: ROOT_INO });
    const { parent, name } = PathCache.split(path);
    return this.lookupIn(await this.ino(parent), name, path);
  }

  private async lookupIn(parent: Ino, name: string, path: string): Promise<Attr> {
    try {
      const attr = await this.cluster.meta('lookup', { parent, name });
      this.remember(path, attr.ino);
      return attr;
    } catch (e) {
      this.forget(path);
      throw e;
    }
  }

  /** The inode a path mapped to, if that is still fresh here (no round trip). */
  cachedIno(path: string): Ino | undefined {
    const hit = this.entries.get(path);
    return hit && hit.expiresMs > this.clock.nowMs() ? hit.ino : undefined;
  }

  remember(path: string, ino: Ino): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= ENTRIES_MAX) this.entries.clear();
    this.entries.set(path, { ino, expiresMs: this.clock.nowMs() + this.ttlMs });
  }

  /** Forgets a path, and with `deep` everything below it (after rename or rmdir of a directory). */
  forget(path: string, deep = false): void {
    this.entries.delete(path);
    if (!deep || this.entries.size === 0) return;
    const prefix = path.endsWith('/') ? path : path + '/';
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }
}
