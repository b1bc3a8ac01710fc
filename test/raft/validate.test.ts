import t from 'tap';
import { RAFT_APPEND_BYTES_MAX, RAFT_ENTRIES_PER_APPEND_MAX, RAFT_ENTRY_BYTES_MAX, SNAPSHOT_CHUNK_BYTES_MAX } from '../../shared/limits.js';
import { Invalid } from '../../shared/wire/validate.js';
import { validateMessage } from '../../storagenode/raft/messages.js';

const e = (index: number, term: number, size = 1) => ({ index, term, type: 'normal', data: new Uint8Array(size) });
const app = (over: Record<string, unknown> = {}) => ({
  type: 'app', from: 'n1', to: 'n2', term: 3, prevIndex: 4, prevTerm: 2, entries: [e(5, 3)], commit: 4, ...over,
});
const bad = (x: unknown) => validateMessage(x) instanceof Invalid;

t.test('validate: accepts a well-formed message of every type', async (t) => {
  const members = [{ id: 'n1', url: 'ws://a:1' }, { id: 'n2', url: 'ws://b:1', zone: 'z' }];
  const good = [
    app(),
    { type: 'vote', from: 'n1', to: 'n2', term: 3, lastIndex: 9, lastTerm: 2 },
    { type: 'preVote', from: 'n1', to: 'n2', term: 3, lastIndex: 9, lastTerm: 3 },
    { type: 'voteResp', from: 'n1', to: 'n2', term: 3, reject: false },
    { type: 'preVoteResp', from: 'n1', to: 'n2', term: 3, reject: true },
    { type: 'appResp', from: 'n1', to: 'n2', term: 3, index: 5, reject: true, hintIndex: 2, hintTerm: 1 },
    { type: 'heartbeat', from: 'n1', to: 'n2', term: 3, commit: 5, ctx: 0 },
    { type: 'heartbeatResp', from: 'n1', to: 'n2', term: 3, ctx: 8 },
    { type: 'snap', from: 'n1', to: 'n2', term: 3, snapshot: { index: 10, term: 2, members } },
    { type: 'snapChunk', from: 'n1', to: 'n2', term: 3, snapshot: { index: 10, term: 2, members }, seq: 0, data: new Uint8Array(10), done: true },
    app({ entries: [{ index: 5, term: 3, type: 'conf', data: new Uint8Array(0), members }] }),
  ];
  for (const m of good) t.notOk(validateMessage(m) instanceof Invalid, `${m.type} ok: ${validateMessage(m)}`);
});

t.test('validate: rejects garbage without throwing', async (t) => {
  for (const x of [undefined, null, 0, 'app', [], new Uint8Array(4), {}, { type: 'nope' }, { type: 'toString' }, { type: '__proto__' }]) {
    t.ok(bad(x), `rejects ${String(x)}`);
  }
});

t.test('validate: rejects wrong field types, unknown fields and bad numbers', async (t) => {
  t.ok(bad(app({ term: '3' })));
  t.ok(bad(app({ term: -1 })));
  t.ok(bad(app({ term: 1.5 })));
  t.ok(bad(app({ term: Number.NaN })));
  t.ok(bad(app({ term: 2 ** 60 })));
  t.ok(bad(app({ extra: 1 })), 'unknown field');
  t.ok(bad(app({ commit: undefined })), 'missing field');
  t.ok(bad({ type: 'voteResp', from: 'n1', to: 'n2', term: 3, reject: 'no' }));
});

t.test('validate: rejects bad node ids', async (t) => {
  t.ok(bad(app({ from: '' })));
  t.ok(bad(app({ from: 'a b' })));
  t.ok(bad(app({ from: 'x'.repeat(65) })));
  t.ok(bad(app({ from: 'n2' })), 'a message to its own sender');
});

t.test('validate: enforces sizes: entries per append, bytes per entry and per append, chunk size', async (t) => {
  const many = Array.from({ length: RAFT_ENTRIES_PER_APPEND_MAX + 1 }, (_, i) => e(5 + i, 3));
  t.ok(bad(app({ entries: many })));
  t.ok(bad(app({ entries: [e(5, 3, RAFT_ENTRY_BYTES_MAX + 1)] })));
  const n = Math.ceil(RAFT_APPEND_BYTES_MAX / RAFT_ENTRY_BYTES_MAX) + 1;
  t.ok(bad(app({ entries: Array.from({ length: n }, (_, i) => e(5 + i, 3, RAFT_ENTRY_BYTES_MAX)) })));
  t.ok(bad({ type: 'snapChunk', from: 'n1', to: 'n2', term: 3, snapshot: { index: 1, term: 1, members: [] }, seq: 0, data: new Uint8Array(SNAPSHOT_CHUNK_BYTES_MAX + 1), done: true }));
});

t.test('validate: rejects entries that do not follow prevIndex or go back in term', async (t) => {
  t.ok(bad(app({ entries: [e(6, 3)] })), 'gap after prevIndex');
  t.ok(bad(app({ entries: [e(5, 3), e(5, 3)] })), 'repeated index');
  t.ok(bad(app({ entries: [e(5, 1)] })), 'term below prevTerm');
  t.ok(bad(app({ entries: [e(5, 4)] })), 'term above the leader term');
  t.ok(bad(app({ prevTerm: 4 })), 'prevTerm above the leader term');
  t.ok(bad(app({ entries: [{ ...e(5, 3), type: 'conf' }] })), 'conf entry without members');
  t.ok(bad(app({ entries: [{ ...e(5, 3), members: [] }] })), 'members on a normal entry');
  t.ok(bad(app({ entries: [{ ...e(5, 3), type: 'conf', members: [{ id: 'n1', url: 'u' }, { id: 'n1', url: 'v' }] }] })), 'duplicate member');
});
