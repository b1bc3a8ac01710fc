/** The metadata state machine's public surface, for the Raft driver and the node's RPC wiring. */
export { MetaStateMachine, type MetaOpenOptions } from './state-machine.js';
export type { EntryChanges } from './tx.js';
export {
  encodeCommand, decodeCommand, INTERNAL_OPS,
  type MetaCommand, type MetaCommandOp, type InternalOp, type InternalResults, type CommandResults,
} from './command.js';
export { MemKv } from './mem-kv.js';
export type { Kv, KvReader, KvSnapshot, KvOp, KvRange, Bytes } from './kv.js';
export { DEDUP_WINDOW } from './apply.js';
