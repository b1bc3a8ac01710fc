/**
 * The contract between the Raft driver (storagenode/raft) and what it replicates (storagenode/meta).
 * The driver hands committed entries over in log order, one at a time; the state machine persists each
 * entry's effects together with its index in one atomic batch, so after a crash it resumes from
 * appliedIndex() and the driver replays the rest of the log.
 */
export interface AppliedEntry {
  index: number;
  term: number;
  data: Uint8Array; // an encoded command; an empty array is a no-op (e.g. a new leader's first entry)
}

export interface SnapshotImage {
  index: number; // the last entry whose effects the image holds
  term: number;
  /** The image as chunks of at most SNAPSHOT_CHUNK_BYTES_MAX bytes each, consistent at `index`. */
  chunks(): AsyncIterable<Uint8Array>;
}

export interface StateMachine {
  /** Index and term of the last entry whose effects are in the store. 0/0 for an empty store. */
  applied(): { index: number; term: number };
  /**
   * Applies one committed entry; the returned value is handed to whoever proposed it. Must be
   * deterministic: the same entries in the same order give the same state on every node. Errors of
   * the operation (ENOENT, ...) are values in the result, never throws; a throw is a bug and stops
   * the node, because skipping an entry would fork the replicas.
   */
  apply(entry: AppliedEntry): Promise<unknown>;
  /**
   * Optional, with whenStored: as apply(), but resolves as soon as the result is final, before the
   * entry is stored. The driver then acknowledges the proposal at once (it is durable in a quorum's
   * log) and moves its applied index and releases reads (which read the store) only at whenStored().
   */
  applyEarly?(entry: AppliedEntry): Promise<unknown>;
  /** Resolves once everything applyEarly() has answered is stored; rejects if storing failed. */
  whenStored?(): Promise<void>;
  /** A consistent image of the state as of applied(), taken without blocking later applies. */
  exportSnapshot(): SnapshotImage;
  /** Replaces the whole state with an image; afterwards applied() is {index, term}. */
  restoreSnapshot(index: number, term: number, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** Makes every applied effect durable on disk; called before the log is compacted past them. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
