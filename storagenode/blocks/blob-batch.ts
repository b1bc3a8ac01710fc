import type { BlockId } from '../../shared/types.js';
import { BlockConflictError } from './block-store.js';
import { ops, type IndexOp, type SegLive } from './blob-index.js';
import { recordBytes, type BlockLoc } from './segment-record.js';

/** A request in the blob store's write queue. Moves and drops come from the compactor. */
export type BlobReq =
  | { kind: 'put'; id: BlockId; data: Uint8Array; head: Buffer; crc: number; storedAtMs: number; version: number; done: Settle }
  | { kind: 'del'; ids: BlockId[]; done: Settle }
  | { kind: 'move'; id: BlockId; from: BlockLoc; raw: Buffer; done: Settle }
  | { kind: 'drop'; seg: number; done: Settle };
export type { Settle } from './group-commit.js';
import type { Settle } from './group-commit.js';

/** An id's state as the batch sees it: null absent, 'bad' an index entry that does not parse. */
export type Cur = (BlockLoc & { data?: Uint8Array }) | null | 'bad';
export type Verdict = 'same' | 'conflict' | 'write';

/**
 * One group commit being planned: decides every request against the index state, in call order, and
 * collects the buffers to append at `pos` of the active segment and the index ops that follow them.
 * Pure: the store reads what it needs (view, stored copies) and does the I/O.
 */
export class BatchPlan {
  readonly bufs: Uint8Array[] = [];
  readonly ops: IndexOp[] = [];
  readonly ok: BlobReq[] = [];
  readonly drops: number[] = [];
  readonly live: Map<number, SegLive>;
  private readonly touched = new Set<number>();

  constructor(
    readonly view: Map<BlockId, Cur>,
    live: Map<number, SegLive>,
    readonly seg: number,
    public pos: number,
    public count: number,
    public bytes: number,
  ) {
    this.live = new Map([...live].map(([k, v]) => [k, { ...v }]));
    this.addLive(seg, 0, 0);
  }

  del(r: BlobReq & { kind: 'del' }): void {
    for (const id of r.ids) this.remove(id);
    this.ok.push(r);
  }

  put(r: BlobReq & { kind: 'put' }, verdict: Verdict): void {
    if (verdict === 'conflict') return r.done.reject(new BlockConflictError(r.id));
    this.ok.push(r);
    if (verdict === 'same') return;
    this.remove(r.id); // 'write' over an existing entry: a corrupt copy gives way
    const loc = this.append([r.head, r.data], { size: r.data.length, crc: r.crc, storedAtMs: r.storedAtMs, headBytes: r.head.length, version: r.version });
    this.ops.push(ops.putLoc(r.id, loc));
    this.view.set(r.id, { ...loc, data: r.data });
    this.count++;
    this.bytes += r.data.length;
  }

  /** A compaction move lands only if the index still names the old place: else it was deleted or replaced. */
  move(r: BlobReq & { kind: 'move' }): void {
    this.ok.push(r);
    const cur = this.view.get(r.id);
    if (!cur || cur === 'bad' || cur.seg !== r.from.seg || cur.off !== r.from.off) return;
    this.addLive(cur.seg, -recordBytes(cur), -1);
    const loc = this.append([r.raw], r.from);
    this.ops.push(ops.putLoc(r.id, loc));
    this.view.set(r.id, loc);
  }

  /** A segment leaves the index only when nothing in it is live; its file goes after the batch is durable. */
  drop(r: BlobReq & { kind: 'drop' }): void {
    this.ok.push(r);
    const l = this.live.get(r.seg);
    if (r.seg === this.seg || (l && l.count !== 0)) return;
    this.live.delete(r.seg);
    this.touched.delete(r.seg);
    this.ops.push(ops.dropSeg(r.seg));
    this.drops.push(r.seg);
  }

  /** The index ops to write after the appended records are durable; stats and the committed end ride along. */
  finish(): IndexOp[] {
    const out = [...this.ops, ops.stats(this.count, this.bytes), ops.active(this.seg, this.pos)];
    for (const s of this.touched) out.push(ops.segLive(s, this.live.get(s)!));
    return out;
  }

  private remove(id: BlockId): void {
    const cur = this.view.get(id);
    if (!cur) return;
    this.ops.push(ops.delLoc(id));
    this.count--;
    if (cur !== 'bad') {
      this.bytes -= cur.size;
      this.addLive(cur.seg, -recordBytes(cur), -1);
    }
    this.view.set(id, null);
  }

  private append(bufs: Uint8Array[], h: Omit<BlockLoc, 'seg' | 'off'>): BlockLoc {
    const loc: BlockLoc = { ...h, seg: this.seg, off: this.pos };
    this.bufs.push(...bufs);
    this.pos += recordBytes(h);
    this.addLive(this.seg, recordBytes(h), 1);
    return loc;
  }

  private addLive(seg: number, bytes: number, count: number): void {
    const l = this.live.get(seg) ?? { bytes: 0, count: 0 };
    this.live.set(seg, { bytes: l.bytes + bytes, count: l.count + count });
    this.touched.add(seg);
  }
}
