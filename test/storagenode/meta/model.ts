/**
 * A deliberately simple model of a POSIX tree for the randomized test (after JuiceFS random_test.go):
 * plain maps, no store, no encoding. It mirrors the state machine's documented check order, so the
 * two must agree on every errno and on the resulting tree.
 */
import { LINK_COUNT_MAX } from '../../../shared/limits.js';
import type { Cred } from '../../../shared/types.js';

export type Kind = 'dir' | 'file' | 'symlink';
export interface MNode {
  ino: number; kind: Kind; perm: number; uid: number; gid: number; nlink: number; size: number;
  parent?: number; children?: Map<string, number>; xattrs: Set<string>;
}
type E = string; // errno or 'OK'

const inGroup = (c: Cred, gid: number) => c.gid === gid || c.groups.includes(gid);
function allowed(n: MNode, c: Cred, mask: number): boolean {
  if (c.uid === 0) return !(mask & 1) || n.kind === 'dir' || (n.perm & 0o111) !== 0;
  const bits = c.uid === n.uid ? (n.perm >> 6) & 7 : inGroup(c, n.gid) ? (n.perm >> 3) & 7 : n.perm & 7;
  return (bits & mask) === mask;
}
const sticky = (d: MNode, v: MNode, c: Cred) => !(d.perm & 0o1000) || c.uid === 0 || c.uid === d.uid || c.uid === v.uid;
const badName = (n: string) => (n === '' || n === '.' || n === '..' || n.includes('/') ? 'EINVAL' : undefined);

export class Model {
  nodes = new Map<number, MNode>();
  opens = new Map<number, number>(); // one session's open count per inode
  nextIno = 2;
  constructor() {
    this.nodes.set(1, { ino: 1, kind: 'dir', perm: 0o755, uid: 0, gid: 0, nlink: 2, size: 0, parent: 1, children: new Map(), xattrs: new Set() });
  }
  private wdir(ino: number, c: Cred): MNode | E {
    const d = this.nodes.get(ino);
    if (!d) return 'ENOENT';
    if (d.kind !== 'dir') return 'ENOTDIR';
    return allowed(d, c, 3) ? d : 'EACCES';
  }
  private prepCreate(parent: number, name: string, c: Cred): MNode | E {
    const d = this.wdir(parent, c);
    if (typeof d === 'string') return d;
    return badName(name) ?? (d.children!.has(name) ? 'EEXIST' : d);
  }
  create(parent: number, name: string, kind: Kind, mode: number, c: Cred): E {
    const d = this.prepCreate(parent, name, c);
    if (typeof d === 'string') return d;
    let perm = kind === 'symlink' ? 0o777 : mode & 0o7777;
    let gid = c.gid;
    if (d.perm & 0o2000) { gid = d.gid; if (kind === 'dir') perm |= 0o2000; }
    if (kind !== 'dir' && perm & 0o2000 && perm & 0o010 && c.uid !== 0 && !inGroup(c, gid)) perm &= ~0o2000;
    const n: MNode = { ino: this.nextIno++, kind, perm, uid: c.uid, gid, nlink: kind === 'dir' ? 2 : 1, size: kind === 'symlink' ? 1 : 0, xattrs: new Set() };
    if (kind === 'dir') { n.children = new Map(); n.parent = d.ino; d.nlink++; }
    this.nodes.set(n.ino, n);
    d.children!.set(name, n.ino);
    return 'OK';
  }
  link(ino: number, parent: number, name: string, c: Cred): E {
    const n = this.nodes.get(ino);
    if (!n) return 'ENOENT';
    if (n.kind === 'dir') return 'EPERM';
    const d = this.prepCreate(parent, name, c);
    if (typeof d === 'string') return d;
    if (n.nlink === 0) return 'ENOENT';
    if (n.nlink >= LINK_COUNT_MAX) return 'EMLINK';
    n.nlink++;
    d.children!.set(name, ino);
    return 'OK';
  }
  private drop(n: MNode): void {
    n.nlink--;
    if (n.nlink === 0 && !this.opens.get(n.ino)) this.nodes.delete(n.ino);
  }
  open(ino: number, write: boolean, c: Cred): E {
    const n = this.nodes.get(ino);
    if (!n || n.nlink === 0) return 'ENOENT';
    if (n.kind === 'dir' && write) return 'EISDIR';
    if (!allowed(n, c, write ? 2 : 4)) return 'EACCES';
    this.opens.set(ino, (this.opens.get(ino) ?? 0) + 1);
    return 'OK';
  }
  release(ino: number): E {
    const k = this.opens.get(ino) ?? 0;
    if (k > 1) this.opens.set(ino, k - 1);
    else this.opens.delete(ino);
    const n = this.nodes.get(ino);
    if (n && n.nlink === 0 && !this.opens.get(ino)) this.nodes.delete(ino);
    return 'OK';
  }
  /** Inodes no name reaches but an open keeps alive. */
  orphans(): MNode[] {
    return [...this.nodes.values()].filter((n) => n.nlink === 0);
  }
  remove(parent: number, name: string, dir: boolean, c: Cred): E {
    const d = this.wdir(parent, c);
    if (typeof d === 'string') return d;
    const bad = badName(name);
    if (bad) return bad;
    const ino = d.children!.get(name);
    if (ino === undefined) return 'ENOENT';
    const n = this.nodes.get(ino)!;
    if (!sticky(d, n, c)) return 'EPERM';
    if (!dir && n.kind === 'dir') return 'EISDIR';
    if (dir && n.kind !== 'dir') return 'ENOTDIR';
    if (dir && n.children!.size) return 'ENOTEMPTY';
    d.children!.delete(name);
    if (dir) { d.nlink--; this.nodes.delete(ino); } else this.drop(n);
    return 'OK';
  }
  private within(dir: MNode, anc: number): boolean {
    for (let cur: MNode | undefined = dir; cur; cur = this.nodes.get(cur.parent!)) {
      if (cur.ino === anc) return true;
      if (cur.ino === 1) return false;
    }
    return false;
  }
  private dirMove(m: MNode, from: MNode, to: MNode, c: Cred, gains: boolean): E | undefined {
    if (from === to) return undefined;
    if (this.within(to, m.ino)) return 'EINVAL';
    if (!allowed(m, c, 2)) return 'EACCES';
    return gains && to.nlink >= LINK_COUNT_MAX ? 'EMLINK' : undefined;
  }
  private relink(m: MNode, from: MNode, to: MNode): void {
    if (from === to) return;
    from.nlink--; to.nlink++; m.parent = to.ino;
  }
  rename(p: number, name: string, np: number, nn: string, flags: number, c: Cred): E {
    if (flags & ~3 || flags === 3) return 'EINVAL';
    const sd = this.wdir(p, c);
    if (typeof sd === 'string') return sd;
    if (badName(name)) return 'EINVAL';
    const dd = this.wdir(np, c);
    if (typeof dd === 'string') return dd;
    if (badName(nn)) return 'EINVAL';
    const si = sd.children!.get(name);
    if (si === undefined) return 'ENOENT';
    const di = dd.children!.get(nn);
    const s = this.nodes.get(si)!, v = di === undefined ? undefined : this.nodes.get(di)!;
    if (flags & 2) return this.exchange(sd, name, s, dd, nn, v, c);
    if (v && flags & 1) return 'EEXIST';
    if (v && v.ino === s.ino) return 'OK';
    if (v && s.kind === 'dir' && v.kind !== 'dir') return 'ENOTDIR';
    if (v && s.kind !== 'dir' && v.kind === 'dir') return 'EISDIR';
    if (s.kind === 'dir') { const e = this.dirMove(s, sd, dd, c, !v); if (e) return e; }
    if (v?.kind === 'dir' && v.children!.size) return 'ENOTEMPTY';
    if (!sticky(sd, s, c) || (v && !sticky(dd, v, c))) return 'EPERM';
    sd.children!.delete(name);
    dd.children!.set(nn, s.ino);
    if (v?.kind === 'dir') { dd.nlink--; this.nodes.delete(v.ino); } else if (v) this.drop(v);
    if (s.kind === 'dir') this.relink(s, sd, dd);
    return 'OK';
  }
  private exchange(sd: MNode, name: string, a: MNode, dd: MNode, nn: string, b: MNode | undefined, c: Cred): E {
    if (!b) return 'ENOENT';
    if (a.ino === b.ino) return 'OK';
    if (a.kind === 'dir') { const e = this.dirMove(a, sd, dd, c, b.kind !== 'dir'); if (e) return e; }
    if (b.kind === 'dir') { const e = this.dirMove(b, dd, sd, c, a.kind !== 'dir'); if (e) return e; }
    if (!sticky(sd, a, c) || !sticky(dd, b, c)) return 'EPERM';
    sd.children!.set(name, b.ino);
    dd.children!.set(nn, a.ino);
    if (a.kind === 'dir') this.relink(a, sd, dd);
    if (b.kind === 'dir') this.relink(b, dd, sd);
    return 'OK';
  }
  chmod(ino: number, mode: number, c: Cred): E {
    const n = this.nodes.get(ino);
    if (!n) return 'ENOENT';
    if (c.uid !== 0 && c.uid !== n.uid) return 'EPERM';
    let m = mode & 0o7777;
    if (c.uid !== 0 && m & 0o2000 && !inGroup(c, n.gid)) m &= ~0o2000;
    n.perm = m;
    return 'OK';
  }
  truncate(ino: number, size: number, c: Cred): E {
    const n = this.nodes.get(ino);
    if (!n) return 'ENOENT';
    if (n.kind === 'dir') return 'EISDIR';
    if (n.kind !== 'file') return 'EINVAL';
    if (!allowed(n, c, 2)) return 'EACCES';
    n.size = size;
    return 'OK';
  }
  write(ino: number, end: number, c: Cred): E {
    const n = this.nodes.get(ino);
    if (!n) return 'ENOENT';
    if (n.kind === 'dir') return 'EISDIR';
    if (n.kind !== 'file') return 'EINVAL';
    n.size = Math.max(n.size, end);
    if (c.uid !== 0) n.perm &= ~0o6000;
    return 'OK';
  }
  setxattr(ino: number, name: string, flags: number, c: Cred): E {
    const n = this.nodes.get(ino);
    if (!n) return 'ENOENT';
    if (flags === 3) return 'EINVAL';
    if (c.uid !== 0 && n.kind === 'symlink') return 'EPERM';
    if (c.uid !== 0 && !allowed(n, c, 2)) return 'EACCES';
    if (flags & 1 && n.xattrs.has(name)) return 'EEXIST';
    if (flags & 2 && !n.xattrs.has(name)) return 'ENODATA';
    n.xattrs.add(name);
    return 'OK';
  }
  removexattr(ino: number, name: string, c: Cred): E {
    const n = this.nodes.get(ino);
    if (!n) return 'ENOENT';
    if (c.uid !== 0 && n.kind === 'symlink') return 'EPERM';
    if (c.uid !== 0 && !allowed(n, c, 2)) return 'EACCES';
    if (!n.xattrs.has(name)) return 'ENODATA';
    n.xattrs.delete(name);
    return 'OK';
  }

  /** Same shape as describe() over the state machine: one line per reachable name. */
  describe(ino = 1, path = '/'): string[] {
    return this.line(this.nodes.get(ino)!, path);
  }
  line(n: MNode, path: string): string[] {
    const ino = n.ino;
    const mode = { dir: 0o40000, file: 0o100000, symlink: 0o120000 }[n.kind] | n.perm;
    const out = [`${path} ino=${ino} ${n.kind} mode=${mode.toString(8)} uid=${n.uid} gid=${n.gid} nlink=${n.nlink} size=${n.size} x=${[...n.xattrs].sort().join(',')}`];
    if (n.children) for (const name of [...n.children.keys()].sort()) out.push(...this.describe(n.children.get(name)!, `${path}${name}/`));
    return out;
  }
}
