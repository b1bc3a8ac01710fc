import { FsError } from '../../shared/errno.js';
import { NAME_BYTES_MAX } from '../../shared/limits.js';
import { ROOT_INO, S_IFDIR, S_IFMT, type Attr, type Ino } from '../../shared/types.js';
import type { ClusterApi, VfsClock } from './types.js';

/**
 * Names cached at most: enough for a directory of 100,000 files swept by stat after the kernel dropped
 * its dentries (the soak's scale check) without a round trip per name; ~490 B each (measured with
 * 100,000 one-name files), so ~70 MB when full. The oldest sixteenth goes when it is full.
 */
export const ENTRIES_MAX = 150_000;
/** The names libfuse 2.9 gives open files it "unlinks" by renaming (".fuse_hidden" + 8 + 8 hex digits). */
const HIDDEN_NAME = /^\.fuse_hidden[0-9a-f]{16}$/;

/** One change of a directory's entries by this mount, in flight (see PathCache.beginDirChange). */
export interface DirChange {
  dir: Ino;
  starts: number;
  alone: boolean;
}

interface Entry {
  ino: Ino;
  attr: Attr | null; // null: only the name → inode mapping is known
  expiresMs: number;
  /**
   * A directory whose every name has an entry here, so a name not cached in it does not exist and
   * its lookup needs no round trip (a create's lookup of its new name, 0.2–1.4 ms of an empty file's
   * ~5 ms create). Only directories this mount made (madeDir): empty when made, and every name this
   * mount adds is remembered. Kept on the directory's own entry, so it ends with it, and no later
   * than any name below it (those were remembered after it); losing any entry below it, a push of
   * another mount's change to it, or a change of it that failed, ends it sooner.
   */
  complete?: true;
}

/**
 * Path → inode resolution for fuse-native's path-based API: one lookup per component, with a cache of
 * entries (name → inode, and the attributes the lookup returned) that lives NAMES_CACHE_SEC (0 in
 * strict mode). Changes made through this mount update or drop the entries
 * they touch, by path and by inode (hard links share an inode but not a path), so this mount never
 * sees its own changes late; other mounts' changes drop entries when the cluster pushes them
 * (Vfs.remoteChanged), and opens always ask the cluster (close-to-open).
 */
export class PathCache {
  private readonly entries = new Map<string, Entry>();
  /** Inode → its cached path, or paths when it has several (hard links): a Set per inode cost ~150 B each. */
  private readonly byIno = new Map<Ino, string | Set<string>>();
  /** libfuse's hidden names of files unlinked while open here → their inodes (see Vfs.rename). */
  private readonly hidden = new Map<string, Ino>();
  /** Per directory inode: changes of its entries by this mount in flight, and how many ever began. */
  private readonly dirChanges = new Map<Ino, { inflight: number; starts: number }>();
  /** Pushes of other mounts' changes seen: a mkdir that overlapped one may have missed a name. */
  private pushes = 0;

  constructor(private readonly cluster: ClusterApi, private readonly clock: VfsClock, private readonly ttlMs: number) {}

  /** Splits '/a/b/c' into the parent path '/a/b' and the name 'c' (a name too long: ENAMETOOLONG). */
  static split(path: string): { parent: string; name: string } {
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (Buffer.byteLength(name) > NAME_BYTES_MAX) throw new FsError('ENAMETOOLONG');
    return { parent: PathCache.dirOf(path), name };
  }

  /** '/a/b/c' → '/a/b' ('/' for a name in the root); never throws (for paths already cached). */
  private static dirOf(path: string): string {
    const i = path.lastIndexOf('/');
    return i <= 0 ? '/' : path.slice(0, i);
  }

  private fresh(path: string): Entry | undefined {
    const e = this.entries.get(path);
    return e && e.expiresMs > this.clock.nowMs() ? e : undefined;
  }

  /** Whether `path` names what libfuse renames an open file to when it is unlinked. */
  static isHiddenPath(path: string): boolean {
    return HIDDEN_NAME.test(path.slice(path.lastIndexOf('/') + 1));
  }

  /** libfuse now calls the unlinked open inode `path`; no name on the cluster stands for it. */
  hide(path: string, ino: Ino): void {
    this.hidden.set(path, ino);
  }
  /** The inode behind a hidden path, if it is one; `drop` forgets it (libfuse's final unlink). */
  hiddenIno(path: string, drop = false): Ino | undefined {
    const ino = this.hidden.get(path);
    if (drop) this.hidden.delete(path);
    return ino;
  }

  /** The inode of a directory path (or any path), through cached entries where fresh. */
  async ino(path: string): Promise<Ino> {
    if (path === '/' || path === '') return ROOT_INO;
    const h = this.hidden.get(path);
    if (h !== undefined) return h;
    const hit = this.fresh(path);
    if (hit) return hit.ino;
    const { parent, name } = PathCache.split(path);
    return (await this.lookupIn(await this.ino(parent), name, path)).ino;
  }

  /** The attributes of a path: from the cache if fresh, unless `fresh` (open: close-to-open). */
  async attr(path: string, fresh = false): Promise<Attr> {
    const h = this.hidden.get(path);
    if (h !== undefined) return this.cluster.meta('getattr', { ino: h }); // fstat of an unlinked open file
    if (!fresh) {
      const hit = this.fresh(path);
      if (hit?.attr) return hit.attr;
    }
    if (path === '/' || path === '') {
      const a = await this.cluster.meta('getattr', { ino: ROOT_INO });
      this.remember(path, a);
      return a;
    }
    const { parent, name } = PathCache.split(path);
    return this.lookupIn(await this.ino(parent), name, path, !fresh);
  }

  private async lookupIn(parent: Ino, name: string, path: string, negative = true): Promise<Attr> {
    // An entry without attributes still says the name exists.
    if (negative && !this.fresh(path)) {
      const dir = this.fresh(PathCache.dirOf(path));
      if (dir?.complete && dir.ino === parent) throw new FsError('ENOENT');
    }
    try {
      const attr = await this.cluster.meta('lookup', { parent, name });
      this.remember(path, attr);
      return attr;
    } catch (e) {
      this.forget(path);
      throw e;
    }
  }

  /** The inode a path mapped to, if that is still fresh here (no round trip). */
  cachedIno(path: string): Ino | undefined {
    return this.fresh(path)?.ino;
  }

  remember(path: string, attr: Attr): void {
    if (this.ttlMs <= 0) return;
    // Re-inserted (the map's order is the order of insertion, oldest first): the name is still known,
    // but a directory's completeness is not carried over, as it must not outlive the names below it.
    this.drop(path, false);
    if (this.entries.size >= ENTRIES_MAX) {
      // Insertion order, not use: a hit costs no reordering, and a sweep larger than the cache would
      // defeat LRU as much as it defeats this.
      let n = ENTRIES_MAX >> 4;
      for (const k of this.entries.keys()) {
        if (n-- <= 0) break;
        this.drop(k);
      }
    }
    this.entries.set(path, { ino: attr.ino, attr, expiresMs: this.clock.nowMs() + this.ttlMs });
    const cur = this.byIno.get(attr.ino);
    if (cur === undefined) this.byIno.set(attr.ino, path);
    else if (typeof cur === 'string') { if (cur !== path) this.byIno.set(attr.ino, new Set([cur, path])); }
    else cur.add(path);
  }

  /** The cached paths of an inode. */
  private pathsOf(ino: Ino): string[] {
    const cur = this.byIno.get(ino);
    return cur === undefined ? [] : typeof cur === 'string' ? [cur] : [...cur];
  }

  /** New attributes of an inode (setattr, commit, link): every name of it sees them. */
  updated(attr: Attr): void {
    for (const p of this.pathsOf(attr.ino)) {
      const e = this.entries.get(p);
      if (e && (!e.attr || e.attr.version <= attr.version)) e.attr = attr; // replies may arrive out of order
    }
  }

  /** Drops the name `name` in directory inode `parent`, under every path of the directory, and all below it. */
  forgetEntry(parent: Ino, name: string): void {
    this.incomplete(parent);
    const dirs = new Set(this.pathsOf(parent));
    if (parent === ROOT_INO) dirs.add('/');
    for (const d of dirs) {
      const path = d === '/' ? `/${name}` : `${d}/${name}`;
      const e = this.entries.get(path);
      // Only a directory has entries below it (a scan of them all per push would cost too much).
      this.forget(path, e !== undefined && (e.attr === null || (e.attr.mode & S_IFMT) === S_IFDIR));
    }
  }

  /** Drops everything (another mount's changes may have been missed). */
  clear(): void {
    this.entries.clear();
    this.byIno.clear();
  }

  /** Another mount's changes are being pushed (what they drop is dropped by the calls that follow). */
  remoteChange(): void {
    this.pushes++;
  }

  /** Token for `madeDir`: taken before the mkdir is sent. */
  pushesSeen(): number {
    return this.pushes;
  }

  /**
   * This mount made the directory `attr` (and remembered its path): it is complete while no
   * entry under it is lost, unless another mount's change was pushed while the mkdir was in flight
   * (it may have named something in the new directory before this mount knew its inode).
   */
  madeDir(attr: Attr, pushesBefore: number): void {
    if (pushesBefore !== this.pushes || (attr.mode & S_IFMT) !== S_IFDIR) return;
    for (const p of this.pathsOf(attr.ino)) this.entries.get(p)!.complete = true;
  }

  /** Directory `dir` may hold names not cached here (a rename into it, a failed change, a push). */
  incomplete(dir: Ino): void {
    for (const p of this.pathsOf(dir)) delete this.entries.get(p)!.complete;
  }

  /** Drops what is cached about an inode under any of its names (its link count or ctime changed). */
  forgetIno(ino: Ino | undefined): void {
    if (ino === undefined) return;
    for (const p of this.pathsOf(ino)) this.drop(p);
  }

  /**
   * Forgets a path and the attributes of its parent directory (whose mtime and link count a change of
   * this name moves); with `deep`, also everything below it (rename or rmdir of a directory). `gone`:
   * the name no longer exists (this mount's unlink, rmdir or rename of it succeeded), so forgetting
   * it loses nothing its parent's completeness needs.
   */
  forget(path: string, deep = false, gone = false): void {
    this.drop(path, !gone);
    const pe = this.entries.get(PathCache.dirOf(path));
    if (pe) pe.attr = null;
    if (!deep || this.entries.size === 0) return;
    const prefix = path.endsWith('/') ? path : path + '/';
    for (const k of [...this.entries.keys()]) if (k.startsWith(prefix)) this.drop(k);
  }

  /** A change of directory `dir`'s entries begins here (create, unlink, ...). */
  beginDirChange(dir: Ino): DirChange {
    let c = this.dirChanges.get(dir);
    if (!c) this.dirChanges.set(dir, (c = { inflight: 0, starts: 0 }));
    c.inflight++;
    c.starts++;
    return { dir, starts: c.starts, alone: c.inflight === 1 };
  }

  /**
   * It ended (after forget() dropped the parent's attributes). `dirAttr`, the directory as the node
   * left it, becomes the cached attributes of `path`'s parent only if no other change of that
   * directory by this mount overlapped this one: their replies may arrive in any order, and one
   * applied later must not be hidden by an earlier one's attributes. This saves the lookup that
   * the kernel's next permission check of the directory (attr_timeout=0) would cost.
   */
  endDirChange(t: DirChange, path?: string, dirAttr?: Attr): void {
    const c = this.dirChanges.get(t.dir);
    if (!c) return;
    const alone = t.alone && c.starts === t.starts;
    if (--c.inflight === 0) this.dirChanges.delete(t.dir);
    if (!alone || path === undefined || dirAttr === undefined || dirAttr.ino !== t.dir) return;
    const pe = this.fresh(PathCache.dirOf(path));
    if (pe && pe.ino === dirAttr.ino) pe.attr = dirAttr;
  }

  /** `lost`: the name may still exist, so its directory is no longer complete here. */
  private drop(path: string, lost = true): void {
    if (!this.entries.has(path)) return;
    if (lost) {
      const pe = this.entries.get(PathCache.dirOf(path));
      if (pe) delete pe.complete;
    }
    this.unindex(path);
    this.entries.delete(path);
  }

  private unindex(path: string): void {
    const e = this.entries.get(path);
    if (!e) return;
    const cur = this.byIno.get(e.ino);
    if (cur === path) this.byIno.delete(e.ino);
    else if (cur instanceof Set) {
      cur.delete(path);
      if (cur.size === 1) this.byIno.set(e.ino, cur.values().next().value!);
      else if (cur.size === 0) this.byIno.delete(e.ino);
    }
  }
}
