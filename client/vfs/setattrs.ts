import { FsError } from '../../shared/errno.js';
import { FILE_BYTES_MAX } from '../../shared/limits.js';
import type { Time } from '../../shared/time.js';
import { S_ISGID, S_ISUID, type Attr, type Ino } from '../../shared/types.js';
import type { Files } from './files.js';
import type { PathCache } from './paths.js';
import { O_ACCMODE, O_RDONLY } from './perms.js';
import { credOf, type ClusterApi, type OpContext } from './types.js';

export type TimeArg = Time | 'now' | undefined; // undefined: UTIME_OMIT
type SetattrChange = { mode?: number; uid?: number; gid?: number; size?: number; atime?: TimeArg; mtime?: TimeArg; killPriv?: boolean };

/**
 * chmod, chown, utimens and truncate (by path or descriptor): each is one setattr entry, or for a
 * file with buffered writes, a change that rides on their commit (deferred-attrs.ts). Throws
 * FsError; the Vfs turns it into the op's errno.
 */
export class Setattrs {
  constructor(
    private readonly cluster: ClusterApi,
    private readonly paths: PathCache,
    private readonly files: Files,
    /** The attributes an op returned: into the path cache, the handles and the kernel's view. */
    private readonly changed: (a: Attr) => void,
  ) {}

  async chmod(ctx: OpContext, path: string, mode: number): Promise<Attr> {
    const want = mode & 0o7777;
    // Root's chmod needs only the inode (a cached one will do: the node answers ENOENT if it is gone);
    // anyone else's is decided on the file's owner and mode as they are now.
    if (ctx.uid === 0) return this.setattr(ctx, (await this.paths.attr(path)).ino, { mode: want });
    const attr = await this.paths.attr(path, true);
    const cur = attr.mode & 0o7777;
    // With default_permissions the kernel refuses a non-owner's chmod itself, so one that reaches us
    // is its own clearing of setuid/setgid before a write or truncate (no handle_killpriv in FUSE 2):
    // allowed, as the kernel would on a local file system.
    const killPriv = ctx.uid !== attr.uid && (want & ~cur) === 0 && ((cur ^ want) & ~(S_ISUID | S_ISGID)) === 0;
    return this.setattr(killPriv ? { ...ctx, uid: 0, gid: 0, groups: [] } : ctx, attr.ino, { mode: want });
  }

  /**
   * uid/gid of -1 (0xffffffff) mean "leave as is", as chown(2) says. A chown of a file takes its
   * setuid/setgid and capabilities, whoever makes it (the kernel's FATTR_KILL_SUIDGID, which libfuse
   * 2.9 does not pass on).
   */
  async chown(ctx: OpContext, path: string, uid: number, gid: number): Promise<Attr> {
    const attr = await this.paths.attr(path);
    const change: SetattrChange = { uid: uid === 0xffffffff || uid === -1 ? undefined : uid, gid: gid === 0xffffffff || gid === -1 ? undefined : gid };
    if (attr.type !== 'dir' && (change.uid !== undefined || change.gid !== undefined)) change.killPriv = true;
    return this.setattr(ctx, attr.ino, change);
  }

  /** Takes setuid/setgid and capabilities from a file before an unprivileged write (Vfs.write). */
  dropPrivs(ctx: OpContext, ino: Ino): Promise<Attr> {
    return this.setattr(ctx, ino, { killPriv: true });
  }

  async utimens(ctx: OpContext, path: string, atime: TimeArg, mtime: TimeArg): Promise<Attr> {
    return this.setattr(ctx, (await this.paths.attr(path)).ino, { atime, mtime });
  }

  async truncate(ctx: OpContext, path: string, size: number): Promise<Attr> {
    if (size < 0) throw new FsError('EINVAL');
    return this.setattr(ctx, (await this.paths.attr(path)).ino, { size, killPriv: ctx.uid !== 0 || undefined });
  }

  async ftruncate(ctx: OpContext, fd: number, size: number): Promise<Attr> {
    const h = this.files.handle(fd);
    if (size < 0 || (h.flags & O_ACCMODE) === O_RDONLY) throw new FsError('EINVAL');
    // ftruncate(2) is authorized by the descriptor's open mode, not the file's mode now (it may have
    // been made unwritable since the open checked it), so the cluster is asked with root's rights;
    // an unprivileged caller's truncate still takes setuid/setgid and capabilities.
    return this.setattr({ ...ctx, uid: 0, gid: 0, groups: [] }, h.ino, { size, killPriv: ctx.uid !== 0 || undefined });
  }

  private async setattr(ctx: OpContext, ino: Ino, change: SetattrChange): Promise<Attr> {
    const args: Parameters<typeof this.cluster.meta<'setattr'>>[1] = { ino, cred: credOf(ctx) };
    for (const [k, v] of Object.entries(change)) if (v !== undefined) (args as Record<string, unknown>)[k] = v;
    if (change.size !== undefined && change.size > FILE_BYTES_MAX) throw new FsError('EFBIG');
    const { ino: _, size, ...rest } = args;
    const deferred = size === undefined ? this.files.defer(ino, rest) : null;
    if (deferred) return deferred;
    // Buffered writes and changes deferred before this one land first, so all apply in the order made;
    // and times after the writes, or the commit would stamp its own time over them.
    await this.files.flushIno(ino);
    const attr = await this.cluster.meta('setattr', args);
    this.changed(attr);
    if (size !== undefined) {
      this.files.truncated(attr);
      await this.files.settlePages(ino); // no page of the old contents may land after the kernel's cut
    }
    return this.files.effective(attr);
  }
}
