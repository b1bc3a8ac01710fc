import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SuiteStore } from './block-store-suite.js';

/**
 * The child opens the store from `module` (its export `cls`, with `opts`), writes blocks with 8 puts in
 * flight and prints each id once its put resolves; the test SIGKILLs it mid-stream. Invariant 3: every
 * acknowledged block is there after reopen, intact, and the persisted stats agree with the blocks.
 */
export function crashSuite(name: string, module: string, cls: string, opts: object, reopen: (dir: string) => Promise<SuiteStore>): void {
  const child = `
    const m = await import(${JSON.stringify(new URL(module, import.meta.url).href)});
    const s = await m[${JSON.stringify(cls)}].open({ ...${JSON.stringify(opts)}, path: process.argv[1] });
    let i = 0;
    const worker = async () => {
      for (;;) {
        const n = i++;
        const id = (0x18bcfe56800 + n).toString(16).padStart(11, '0') + '-' + n.toString(16).padStart(16, '0');
        const data = Buffer.alloc(1000 + (n % 50000), n & 0xff);
        await s.put(id, data);
        process.stdout.write(id + ' ' + data.length + '\\n');
      }
    };
    for (let w = 0; w < 8; w++) worker();
  `;
  t.test(`${name}: after SIGKILL mid-write, every acknowledged put is present and intact, and stats match`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tidefs-crash-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const acked = new Map<string, number>();
    await new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, ['--input-type=module', '-e', child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let buf = '';
      p.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let k;
        while ((k = buf.indexOf('\n')) >= 0) {
          const [id, len] = buf.slice(0, k).split(' ');
          acked.set(id!, Number(len));
          buf = buf.slice(k + 1);
        }
        if (acked.size >= 300) p.kill('SIGKILL');
      });
      p.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${_code}`))));
    });
    const s = await reopen(dir);
    t.teardown(() => s.close());
    const missing: string[] = [];
    for (const [id, len] of acked) {
      const data = await s.get(id); // throws BlockCorruptError on a torn record
      if (!data || data.length !== len) missing.push(id);
    }
    t.same(missing, [], `${acked.size} acknowledged puts survive`);
    const counted = s.stats();
    t.same(await s.recount(), counted, 'the persisted counters agree with the blocks on disk');
    t.ok(counted.count >= acked.size);
    const more = '18bcfe56800-ffffffffffffffff';
    await s.put(more, Buffer.alloc(5000, 7));
    t.equal((await s.get(more))!.length, 5000, 'the store takes new writes after the crash');
  });
}
