export { dropSessionLocks, getlk, lock, lockCancel, lockWait, type WaitRec } from './ops.js';
export { LK } from './keys.js';
export * as table from './table.js';
