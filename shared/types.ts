import type { Time } from './time.js';

/** Inode numbers are plain integers; the root directory is always 1. */
export type Ino = number;
export const ROOT_INO: Ino = 1;

export type FileType = 'file' | 'dir' | 'symlink' | 'fifo' | 'chr' | 'blk' | 'sock';

/** st_mode type bits (Linux values; mode travels with them so the client can hand it to FUSE as is). */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_IXGRP = 0o0010;
export const S_ISVTX = 0o1000;

const TYPE_BITS: Record<FileType, number> = {
  file: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK, fifo: S_IFIFO, chr: S_IFCHR, blk: S_IFBLK, sock: S_IFSOCK,
};
export function typeBits(t: FileType): number {
  return TYPE_BITS[t];
}
export function fileTypeOfMode(mode: number): FileType | undefined {
  const bits = mode & S_IFMT;
  for (const [t, b] of Object.entries(TYPE_BITS)) if (b === bits) return t as FileType;
  return undefined;
}

/** Everything stat(2) reports about an inode, as the state machine keeps it. */
export interface Attr {
  ino: Ino;
  type: FileType;
  mode: number; // full st_mode: type bits | permission bits
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  rdev: number;
  atime: Time;
  mtime: Time;
  ctime: Time;
  /** Bumped by every change to the inode's data; lets clients validate caches (close-to-open). */
  version: number;
  /**
   * Files: bytes that committed slices cover (holes excluded, overlaps once), for st_blocks. Absent
   * when the node predates it or the file was never written since; clients then use the size.
   */
  allocBytes?: number;
}

export interface DirEntry {
  name: string;
  ino: Ino;
  type: FileType;
}

/**
 * The caller of an operation. uid 0 is root. groups are the supplementary groups (the client reads
 * them from /proc/<pid>/status), which the ownership rules of chown and setgid clearing need.
 */
export interface Cred {
  uid: number;
  gid: number;
  groups: number[];
}
export const ROOT_CRED: Cred = { uid: 0, gid: 0, groups: [] };

/** A block is named by the time its writer made it (ms, for garbage collection) and random bits. */
export type BlockId = string; // `${msHex}-${randomHex}`, see shared/block-id.ts

/**
 * A slice places bytes of an immutable block into a chunk of a file. Slices in a chunk are kept in
 * write order; a later slice hides what earlier ones say about the same bytes.
 */
export interface Slice {
  pos: number; // offset of the first byte within the chunk
  len: number; // bytes
  block: BlockId;
  off: number; // offset within the block
}

export interface StatFs {
  blockSize: number;
  totalBytes: number;
  freeBytes: number;
  availBytes: number;
  files: number;
  filesFree: number;
  nameMax: number;
}

/** One storage node as the membership knows it. */
export interface NodeInfo {
  id: string;
  url: string; // ws://host:port
  zone?: string;
}
