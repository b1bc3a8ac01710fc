import { assert } from './assert.js';

/** Every limit in one place, with the relations between them asserted below. Units last. */
export const NAME_BYTES_MAX = 255; // POSIX NAME_MAX on Linux
export const PATH_BYTES_MAX = 4096; // PATH_MAX on Linux
export const SYMLINK_BYTES_MAX = 4095;
export const XATTR_NAME_BYTES_MAX = 255;
export const XATTR_VALUE_BYTES_MAX = 64 * 1024; // Linux XATTR_SIZE_MAX
export const XATTR_LIST_BYTES_MAX = 64 * 1024;
export const LINK_COUNT_MAX = 65000; // EMLINK past this
export const FILE_BYTES_MAX = 2 ** 50; // 1 PiB; EFBIG past this
export const GROUPS_MAX = 64; // supplementary groups carried per request

export const CHUNK_BYTES = 64 * 1024 * 1024; // file data is indexed in chunks of this size
export const BLOCK_BYTES_MAX = 4 * 1024 * 1024; // an immutable block is at most this big
/**
 * Past this the client must compact the chunk first. A background compaction rewrites the whole chunk,
 * so random small writes cost CHUNK_BYTES / (slices it removes) rewritten bytes each (×3 replicas):
 * 4096 makes that ~17 KiB per slice (1024 made it ~85 KiB). Bounded by the chunk record, which every
 * commit to the chunk rewrites and readChunk returns (~70 bytes a slice: ~290 KB here), and by reads
 * resolving a range over every slice (client/vfs/slices.ts).
 */
export const SLICES_PER_CHUNK_MAX = 4096;
/** Slices per commitWrite or per compactChunk's new layout: their Raft entry stays under RAFT_ENTRY_BYTES_MAX. */
export const COMMIT_SLICES_MAX = 1024;
/** What one slice takes in a record or an entry, at most (msgpack map: 3 numbers and a block id). */
export const SLICE_ENCODED_BYTES_MAX = 100;

export const FRAME_ENVELOPE_BYTES_MAX = 256 * 1024; // everything in a frame but block payload
export const FRAME_BYTES_MAX = BLOCK_BYTES_MAX + FRAME_ENVELOPE_BYTES_MAX;
export const READDIR_ENTRIES_MAX = 1024; // per readdir reply
export const REQUESTS_IN_FLIGHT_MAX = 1024; // per connection; TOO_BUSY past this
export const OP_NAME_BYTES_MAX = 64;
export const RAFT_ENTRIES_PER_APPEND_MAX = 256;
export const RAFT_ENTRY_BYTES_MAX = FRAME_ENVELOPE_BYTES_MAX / 2; // metadata commands only: data goes to blocks
export const RAFT_APPEND_BYTES_MAX = 2 * 1024 * 1024;
export const SNAPSHOT_CHUNK_BYTES_MAX = 1024 * 1024;

export const REPLICAS_DEFAULT = 3;
export const LEASE_MS_DEFAULT = 20_000;
export const LOCKS_PER_FILE_MAX = 512; // byte-range + flock locks on one file, as EFS; ENOLCK past it
export const LOCKS_PER_SESSION_MAX = 8192; // per mount (session), as EFS; a queued waiter counts as one
export const LOCK_WAITERS_PER_FILE_MAX = 1024; // blocked requests queued on one file; ENOLCK past it
export const LOCK_OWNER_BYTES_MAX = 40; // a kernel lock owner as hex (64 bits) with a kind prefix
/** Files up to this size come with their bytes in the reply to a read-only open (OpenLayout.blocks0). */
export const INLINE_FILE_BYTES_MAX = 64 * 1024;
/** An unlinked file nobody registered open is deleted this long after (storagenode/meta/ops/lifecycle.ts retire). */
export const ORPHAN_GRACE_MS_DEFAULT = 30_000;
export const REAP_EVERY_MS_DEFAULT = 1000;
export const BLOCK_GC_GRACE_MS_DEFAULT = 60 * 60 * 1000; // orphans of crashed writers live this long
/** A commit may only name blocks younger than this; keeps GC from racing a slow writer. */
export const BLOCK_COMMIT_AGE_MS_MAX = BLOCK_GC_GRACE_MS_DEFAULT / 2;

assert(CHUNK_BYTES % BLOCK_BYTES_MAX === 0, 'a chunk holds whole blocks');
assert(FRAME_BYTES_MAX >= BLOCK_BYTES_MAX + FRAME_ENVELOPE_BYTES_MAX, 'a block fits in one frame with its envelope');
assert(RAFT_ENTRY_BYTES_MAX > XATTR_VALUE_BYTES_MAX + 4 * XATTR_NAME_BYTES_MAX, 'a setxattr fits in one Raft entry');
assert(XATTR_VALUE_BYTES_MAX < FRAME_ENVELOPE_BYTES_MAX, 'an xattr value fits in an envelope');
assert(SNAPSHOT_CHUNK_BYTES_MAX <= FRAME_BYTES_MAX, 'a snapshot chunk fits in one frame');
assert(RAFT_APPEND_BYTES_MAX >= RAFT_ENTRY_BYTES_MAX && RAFT_APPEND_BYTES_MAX < FRAME_BYTES_MAX, 'an append holds one entry and fits in a frame');
assert(BLOCK_COMMIT_AGE_MS_MAX < BLOCK_GC_GRACE_MS_DEFAULT, 'commits race no collection');
assert(COMMIT_SLICES_MAX * SLICE_ENCODED_BYTES_MAX < RAFT_ENTRY_BYTES_MAX, 'a commit of COMMIT_SLICES_MAX slices fits in one Raft entry');
assert(SLICES_PER_CHUNK_MAX * SLICE_ENCODED_BYTES_MAX + FRAME_ENVELOPE_BYTES_MAX <= FRAME_BYTES_MAX, 'a full chunk layout fits in one reply frame');
assert(COMMIT_SLICES_MAX <= SLICES_PER_CHUNK_MAX, 'one commit fits in an empty chunk');
assert(LOCKS_PER_FILE_MAX <= LOCKS_PER_SESSION_MAX, 'one session can fill one file');
