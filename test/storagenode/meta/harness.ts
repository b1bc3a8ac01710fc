import { makeBlockId } from '../../../shared/block-id.js';
import type { FsResult } from '../../../shared/errno.js';
import type { MetaReadOp, OpArgs, OpResults } from '../../../shared/protocol/ops.js';
import { timeFromMs, type Time } from '../../../shared/time.js';
import { ROOT_CRED, ROOT_INO, type Attr, type Cred } from '../../../shared/types.js';
import { encodeCommand, type CommandResults, type MetaCommand, type MetaCommandOp } from '../../../storagenode/meta/command.js';
import type { KvRange } from '../../../storagenode/meta/kv.js';
import { MemKv } from '../../../storagenode/meta/mem-kv.js';
import { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';

export const ROOT = ROOT_CRED;
export const ALICE: Cred = { uid: 1000, gid: 1000, groups: [] };
export const BOB: Cred = { uid: 1001, gid: 1001, groups: [2000] };
export { ROOT_INO };

/** A store that counts its range scans: each is a LevelDB iterator on a node (a thread-pool round trip and a seek). */
export class CountingKv extends MemKv {
  ranges = 0;
  override range(r: KvRange) {
    this.ranges++;
    return super.range(r);
  }
}

type ArgsOf<O extends MetaCommandOp> = Extract<MetaCommand, { op: O }>['args'];

/** Drives a state machine the way the Raft driver does: one entry per command, the clock in `now`. */
export class Harness {
  index = 0;
  term = 1;
  nowMs = 1_700_000_000_000;
  private blocks = 0;
  /**
   * Reap retired inodes right after each command, as if their grace period (ops/lifecycle.ts retire)
   * had passed: most tests are about what follows an unlink, not about the grace itself.
   */
  autoReap = true;

  constructor(public sm: MetaStateMachine) {}
  static async create(): Promise<Harness> {
    return new Harness(await MetaStateMachine.memory());
  }
  now(): Time {
    return timeFromMs(this.nowMs);
  }
  async run<O extends MetaCommandOp>(op: O, args: ArgsOf<O>): Promise<FsResult<CommandResults[O]>> {
    const r = await this.apply(op, args);
    if (this.autoReap && op !== 'reapOrphans' && (await this.sm.orphansDue(this.nowMs + 1))) await this.reap();
    return r;
  }
  /** Deletes the inodes retired before `beforeMs` (default: up to now) that nobody opened since: the leader's reaper. */
  reap(beforeMs = this.nowMs + 1): Promise<FsResult<CommandResults['reapOrphans']>> {
    return this.apply('reapOrphans', { before: timeFromMs(beforeMs) });
  }
  private async apply<O extends MetaCommandOp>(op: O, args: ArgsOf<O>): Promise<FsResult<CommandResults[O]>> {
    const data = encodeCommand({ op, args, now: this.now() } as MetaCommand);
    return (await this.sm.apply({ index: ++this.index, term: this.term, data })) as FsResult<CommandResults[O]>;
  }
  async must<O extends MetaCommandOp>(op: O, args: ArgsOf<O>): Promise<CommandResults[O]> {
    const r = await this.run(op, args);
    if (!r.ok) throw new Error(`${op} ${JSON.stringify(args)} failed: ${r.errno}`);
    return r.value;
  }
  async errno<O extends MetaCommandOp>(op: O, args: ArgsOf<O>): Promise<string> {
    const r = await this.run(op, args);
    return r.ok ? 'OK' : r.errno;
  }
  q<O extends MetaReadOp>(op: O, args: OpArgs<O>): Promise<FsResult<OpResults[O]>> {
    return this.sm.query(op, args);
  }
  async attr(ino: number): Promise<Attr> {
    const r = await this.q('getattr', { ino });
    if (!r.ok) throw new Error(`getattr ${ino}: ${r.errno}`);
    return r.value;
  }
  async names(ino: number): Promise<string[]> {
    const r = await this.q('readdir', { ino });
    if (!r.ok) throw new Error(`readdir ${ino}: ${r.errno}`);
    return r.value.entries.map((e) => e.name);
  }
  mkdir(parent: number, name: string, cred: Cred = ROOT, mode = 0o755): Promise<OpResults['mkdir']> {
    return this.must('mkdir', { parent, name, mode, cred });
  }
  create(parent: number, name: string, cred: Cred = ROOT, mode = 0o644): Promise<Attr> {
    return this.must('mknod', { parent, name, mode: 0o100000 | mode, rdev: 0, cred });
  }
  /** A block id made "now", so commitWrite accepts it. */
  block(): string {
    return makeBlockId(this.nowMs, (++this.blocks).toString(16).padStart(16, '0'));
  }
  async session(): Promise<string> {
    return (await this.must('sessionOpen', { client: 'test', leaseMs: 20_000 })).session;
  }
}
