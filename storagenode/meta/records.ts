import { Packr } from 'msgpackr';
import type { Attr, FileType, Ino, Slice } from '../../shared/types.js';
import type { Time } from '../../shared/time.js';

/** Records are plain objects, no msgpackr records extension: the image must decode on any version. */
const packr = new Packr({ useRecords: false, moreTypes: false });
/**
 * An owned copy. msgpackr returns a view into one buffer that every Packr in the process shares and
 * that grows to 4x the largest message packed (16 MiB after one 4 MiB block reply), so one small
 * long-lived value (a Raft entry in the in-memory log, a cached record) pinned a whole such buffer:
 * nodes held 390-540 MB of live ArrayBuffers during random writes with a 10 MB heap.
 */
export const pack = (v: unknown): Buffer => Buffer.from(packr.pack(v));
export const unpack = <T>(b: Uint8Array): T => packr.unpack(b) as T;

/** An inode as stored: stat fields plus what only some types carry. */
export interface InodeRec extends Attr {
  target?: string; // symlinks
  parent?: Ino; // directories: the one directory that names them, for `..` and the subtree check
  alloc?: number; // files: bytes their slices cover (ops/alloc.ts); absent on records written before it
}
export interface EntryRec {
  ino: Ino;
  type: FileType;
}
export interface SessionRec {
  client: string;
  leaseMs: number;
  expires: Time;
}
export interface Counters {
  nextIno: number;
  inodes: number;
  bytes: number;
}
export interface AppliedRec {
  index: number;
  term: number;
}
export type ChunkRec = Slice[];

export function toAttr(r: InodeRec): Attr {
  return {
    ino: r.ino, type: r.type, mode: r.mode, uid: r.uid, gid: r.gid, nlink: r.nlink, size: r.size, rdev: r.rdev,
    atime: r.atime, mtime: r.mtime, ctime: r.ctime, version: r.version,
    ...(r.alloc !== undefined ? { allocBytes: Math.min(r.alloc, r.size) } : {}),
  };
}
