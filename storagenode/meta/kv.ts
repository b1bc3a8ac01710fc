/**
 * The ordered key-value store the metadata state machine sits on. Keys are compared as raw bytes
 * (LevelDB's default comparator), so numbers in keys are fixed-width hex and sort numerically.
 * Two engines: LevelDB (level-kv.ts, the only file that imports `level`) and an in-memory sorted map
 * (mem-kv.ts) for tests and the simulation. One suite runs against both.
 */
export type Bytes = Buffer;

export interface KvRange {
  gte?: Bytes;
  gt?: Bytes;
  lt?: Bytes;
  limit?: number;
}

export type KvOp = { type: 'put'; key: Bytes; value: Bytes } | { type: 'del'; key: Bytes };

export interface KvReader {
  get(key: Bytes): Promise<Bytes | undefined>;
  /** Entries in ascending key order. */
  range(r: KvRange): AsyncIterable<[Bytes, Bytes]>;
}

/** A read-only view frozen at the moment it was taken; later writes do not show through it. */
export interface KvSnapshot extends KvReader {
  close(): Promise<void>;
}

export interface Kv extends KvReader {
  /** Applies all ops or none. `sync` waits until they are on disk (fsync of the write-ahead log). */
  write(ops: KvOp[], opts?: { sync?: boolean }): Promise<void>;
  /** Taken synchronously, so it is consistent with every write that has completed before the call. */
  snapshot(): KvSnapshot;
  /** Deletes every key in the range (not atomic with anything else). */
  clear(r: KvRange): Promise<void>;
  close(): Promise<void>;
}

/** The smallest key greater than every key that starts with `prefix`, for prefix range scans. */
export function prefixEnd(prefix: Bytes): Bytes {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0xff, 0xff, 0xff, 0xff]);
}

export function prefixRange(prefix: Bytes, limit?: number): KvRange {
  return limit === undefined ? { gte: prefix, lt: prefixEnd(prefix) } : { gte: prefix, lt: prefixEnd(prefix), limit };
}

/** Whether `key` lies in the range's bounds (limit is not a bound). */
export function inRange(key: Bytes, r: KvRange): boolean {
  if (r.gte && Buffer.compare(key, r.gte) < 0) return false;
  if (r.gt && Buffer.compare(key, r.gt) <= 0) return false;
  if (r.lt && Buffer.compare(key, r.lt) >= 0) return false;
  return true;
}
