import type { MetaStateMachine } from '../../../storagenode/meta/state-machine.js';

/** A deterministic description of everything reachable from root: for comparing two stores. */
export async function describeTree(sm: Pick<MetaStateMachine, 'query'>, ino = 1, path = ''): Promise<string[]> {
  const h = { q: sm.query.bind(sm) };
  const out: string[] = [];
  const a = await h.q('getattr', { ino });
  if (!a.ok) return [`${path}: ${a.errno}`];
  const { atime: _a, ...rest } = a.value;
  out.push(`${path || '/'} ${JSON.stringify(rest)}`);
  const x = await h.q('listxattr', { ino });
  if (x.ok && x.value.names.length) out.push(`${path || '/'} xattrs ${x.value.names.join(',')}`);
  if (a.value.type === 'file') {
    const c = await h.q('readChunk', { ino, chunk: 0 });
    if (c.ok && c.value.slices.length) out.push(`${path} chunk0 ${JSON.stringify(c.value.slices)}`);
  }
  if (a.value.type !== 'dir') return out;
  let after: string | undefined;
  for (;;) {
    const r = await h.q('readdir', after === undefined ? { ino } : { ino, after });
    if (!r.ok) return [...out, `${path}: readdir ${r.errno}`];
    for (const e of r.value.entries) out.push(...(await describeTree(sm, e.ino, `${path}/${e.name}`)));
    if (!r.value.more) return out;
    after = r.value.entries.at(-1)!.name;
  }
}
