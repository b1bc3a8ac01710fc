import { SNAPSHOT_CHUNK_BYTES_MAX } from '../../shared/limits.js';
import type { SnapshotImage } from '../state-machine.js';
import type { SnapChunkMsg, SnapMsg } from './messages.js';
import { SNAPSHOT_CHUNKS_MAX } from './messages.js';
import type { SnapshotMeta } from './types.js';

/**
 * How snapshot bytes travel (§7 InstallSnapshot, chunked as in Figure 13 of the paper): the core emits
 * a `snap` message with metadata only; the driver exports the state machine's image and sends it as
 * `snapChunk` messages of at most SNAPSHOT_CHUNK_BYTES_MAX bytes, numbered from 0, the last one marked
 * done. The receiver keeps the chunks of one transfer per sender, in order; a gap or a new transfer
 * restarts it. When the last chunk arrives the receiver steps its core with the `snap` message; if
 * the core accepts, its Ready carries the snapshot and the driver restores the state machine from the
 * chunks it kept. Lost chunks make the leader retry after its snapshot timeout (core.ts).
 */
export async function streamSnapshot(
  image: SnapshotImage,
  meta: SnapshotMeta,
  head: Omit<SnapChunkMsg, 'type' | 'snapshot' | 'seq' | 'data' | 'done'>,
  send: (m: SnapChunkMsg) => void,
  cancelled: () => boolean,
): Promise<number> {
  let seq = 0;
  let held: Uint8Array | null = null;
  const emit = (data: Uint8Array, done: boolean) => send({ type: 'snapChunk', ...head, snapshot: meta, seq: seq++, data, done });
  for await (const chunk of image.chunks()) {
    if (cancelled()) throw new Error('snapshot transfer cancelled');
    if (chunk.byteLength > SNAPSHOT_CHUNK_BYTES_MAX) throw new Error(`snapshot chunk of ${chunk.byteLength} bytes exceeds ${SNAPSHOT_CHUNK_BYTES_MAX}`);
    if (held) emit(held, false);
    held = chunk;
    if (seq >= SNAPSHOT_CHUNKS_MAX - 1) throw new Error('snapshot has too many chunks');
    // Let other work (heartbeats, client requests) through between chunks.
    await new Promise((r) => setImmediate(r));
  }
  emit(held ?? new Uint8Array(0), true);
  return seq;
}

interface Transfer {
  from: string;
  term: number;
  meta: SnapshotMeta;
  chunks: Uint8Array[];
}
const same = (a: SnapshotMeta, b: SnapshotMeta) => a.index === b.index && a.term === b.term;

/** The receiving side: assembles transfers and keeps complete ones until the core installs one. */
export class SnapshotReceiver {
  private partial = new Map<string, Transfer>();
  /** Complete transfers by "index/term"; a few, since another may finish before the core installs one. */
  private complete = new Map<string, Transfer>();

  /** Returns the `snap` message to step the core with once a transfer is complete. */
  add(m: SnapChunkMsg): SnapMsg | null {
    let t = this.partial.get(m.from);
    if (m.seq === 0) {
      t = { from: m.from, term: m.term, meta: m.snapshot, chunks: [] };
      this.partial.set(m.from, t);
    }
    if (!t || t.term !== m.term || !same(t.meta, m.snapshot) || t.chunks.length !== m.seq) {
      this.partial.delete(m.from); // out of order or a transfer we never saw begin: wait for a retry
      return null;
    }
    t.chunks.push(m.data);
    if (!m.done) return null;
    this.partial.delete(m.from);
    this.complete.set(`${t.meta.index}/${t.meta.term}`, t);
    while (this.complete.size > 2) this.complete.delete(this.complete.keys().next().value!);
    return { type: 'snap', from: m.from, to: m.to, term: m.term, snapshot: m.snapshot };
  }

  /** The chunks of the transfer the core accepted; null if we hold no such image (a bug). */
  take(meta: SnapshotMeta): Uint8Array[] | null {
    const t = this.complete.get(`${meta.index}/${meta.term}`);
    this.complete.clear();
    return t ? t.chunks : null;
  }
}

export async function* iterate(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const c of chunks) yield c;
}
