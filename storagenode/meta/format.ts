import { inoOfKey, K } from './keys.js';
import type { Kv, KvOp } from './kv.js';
import { prefixRange } from './kv.js';
import { pack, unpack } from './records.js';

/**
 * The metadata layout version this build reads and writes (m/format; absent = 1).
 * 2: n/<ino> counts the sessions that hold an inode open (keys.ts), so "still open?" is one get.
 * 3: chunk records (c/<ino>/<chunk>) may be in the binary form of chunk-codec.ts. Records in the old
 *    msgpack form still read, so nothing is rewritten: each record changes form when next written.
 *    The version is there so that an older build refuses the store instead of misreading it.
 */
export const META_FORMAT = 3;

/**
 * Brings a store of an older layout up to META_FORMAT, once, when the state machine opens it. The
 * result is a pure function of the stored state, so replicas at the same applied index migrate alike,
 * and snapshots (which copy every key, m/format included) carry the new layout on.
 */
export async function migrateFormat(kv: Kv): Promise<void> {
  const raw = await kv.get(K.format());
  const version = raw ? unpack<number>(raw) : 1;
  if (version === META_FORMAT) return;
  if (version > META_FORMAT) {
    throw new Error(`metadata store has layout version ${version}; this tidefs reads up to ${META_FORMAT}: run the newer tidefs`);
  }
  const ops: KvOp[] = [];
  if (version < 2) await countSessions(kv, ops);
  ops.push({ type: 'put', key: K.format(), value: pack(META_FORMAT) });
  await kv.write(ops, { sync: true });
}

/** 1 → 2: each inode's sessions counted from its o/<ino>/<session> records. */
async function countSessions(kv: Kv, ops: KvOp[]): Promise<void> {
  let ino = -1;
  let sessions = 0;
  const flush = () => { if (sessions > 0) ops.push({ type: 'put', key: K.openCount(ino), value: pack(sessions) }); };
  for await (const [key] of kv.range(prefixRange(Buffer.from('o/')))) {
    const keyIno = inoOfKey(key);
    if (keyIno !== ino) {
      flush();
      ino = keyIno;
      sessions = 0;
    }
    sessions++;
  }
  flush();
}
