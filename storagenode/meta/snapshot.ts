import { SNAPSHOT_CHUNK_BYTES_MAX } from '../../shared/limits.js';
import { K } from './keys.js';
import type { Bytes, Kv, KvOp, KvReader } from './kv.js';
import { pack, unpack } from './records.js';

/** Per-entry framing allowance in a chunk (msgpack bin headers and the array header). */
const ENTRY_OVERHEAD_BYTES = 16;
const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;

/** Keys that describe this replica's progress, not the replicated state: never part of an image. */
const isLocal = (k: Bytes) => k.equals(K.applied()) || k.equals(K.restoring());

/**
 * A chunk is msgpack [k0, v0, k1, v1, ...]. The store's iterator reads from a snapshot, so the
 * image is consistent while applies continue.
 */
export async function* imageChunks(reader: KvReader): AsyncGenerator<Uint8Array> {
  let flat: Bytes[] = [];
  let bytes = 0;
  for await (const [k, v] of reader.range({})) {
    if (isLocal(k)) continue;
    const size = k.length + v.length + ENTRY_OVERHEAD_BYTES;
    if (bytes + size > SNAPSHOT_CHUNK_BYTES_MAX - ENTRY_OVERHEAD_BYTES && flat.length) {
      yield pack(flat);
      flat = [];
      bytes = 0;
    }
    flat.push(k, v);
    bytes += size;
  }
  if (flat.length) yield pack(flat);
}

function decodeChunk(chunk: Uint8Array): Bytes[] {
  if (chunk.byteLength > SNAPSHOT_CHUNK_BYTES_MAX) throw new Error('snapshot chunk too large');
  const flat = unpack<unknown>(chunk);
  if (!Array.isArray(flat) || flat.length % 2 !== 0 || !flat.every((b) => b instanceof Uint8Array)) {
    throw new Error('malformed snapshot chunk');
  }
  return flat.map((b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * Replaces the store with an image. A marker key goes down first (synced) and comes off last, so a
 * crash part-way leaves a store that open() recognises as incomplete and wipes; the node then asks
 * for a snapshot again. Throws on a malformed image: the caller retries with another.
 */
export async function restoreImage(kv: Kv, index: number, term: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  await kv.write([{ type: 'put', key: K.restoring(), value: pack({ index, term }) }], { sync: true });
  await kv.clear({ lt: K.restoring() });
  await kv.clear({ gt: K.restoring() });
  let batch: KvOp[] = [];
  let bytes = 0;
  for await (const chunk of chunks) {
    const flat = decodeChunk(chunk);
    for (let i = 0; i < flat.length; i += 2) {
      if (isLocal(flat[i]!)) continue;
      batch.push({ type: 'put', key: flat[i]!, value: flat[i + 1]! });
      bytes += flat[i]!.length + flat[i + 1]!.length;
    }
    if (bytes >= RESTORE_BATCH_BYTES) {
      await kv.write(batch);
      batch = [];
      bytes = 0;
    }
  }
  batch.push({ type: 'put', key: K.applied(), value: pack({ index, term }) });
  await kv.write(batch);
  await kv.write([{ type: 'del', key: K.restoring() }], { sync: true });
}
