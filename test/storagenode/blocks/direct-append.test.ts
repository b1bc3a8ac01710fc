import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alignUp, DIRECT_ALIGN, DirectAppender } from '../../../storagenode/blocks/direct-append.js';
import { tempDir } from './block-store-suite.js';

/** Appends buffers of `sizes` (one append per inner list, as one batch of the blob store), checking the file after each. */
async function appendAll(t: Test, path: string, sizes: number[][], startWith: Buffer): Promise<void> {
  let want = startWith;
  let a = (await DirectAppender.open(path))!;
  t.ok(a, 'O_DIRECT is available here');
  let tailReads = 0;
  const readTail = async (start: number, len: number) => { tailReads++; return readFileSync(path).subarray(start, start + len); };
  for (const [k, group] of sizes.entries()) {
    if (k === 2) { await a.close(); a = (await DirectAppender.open(path))!; } // a new appender learns the tail from the file
    const bufs = group.map((n) => randomBytes(n));
    t.equal(await a.append(bufs, want.length, readTail), bufs.reduce((x, b) => x + b.length, 0));
    want = Buffer.concat([want, ...bufs]);
    const file = readFileSync(path);
    t.ok(file.subarray(0, want.length).equals(want), `bytes after append ${k} are the records`);
    t.equal(file.length, alignUp(want.length), 'padded to the next 4 KiB block');
    t.ok(file.subarray(want.length).equals(Buffer.alloc(file.length - want.length)), 'with zeros');
  }
  await a.close();
  t.equal(tailReads, 2, 'the tail is read from the file only by a fresh appender at an unaligned end (the first, and the one opened again)');
}

t.test('direct appends at unaligned ends keep every earlier byte, pad with zeros, and split past the staging size', async (t) => {
  const path = join(tempDir(t), 'seg');
  writeFileSync(path, randomBytes(1000)); // an existing file with an unaligned committed end
  const sizes = [[1], [4095, 1, 0], [100, 5000], [DIRECT_ALIGN * 3], [9 << 20, 77], [3]];
  await appendAll(t, path, sizes, readFileSync(path));
});

t.test('an append at an aligned end reads nothing back', async (t) => {
  const path = join(tempDir(t), 'seg');
  writeFileSync(path, Buffer.alloc(0));
  const a = (await DirectAppender.open(path))!;
  await a.append([Buffer.alloc(DIRECT_ALIGN, 5)], 0, async () => { throw new Error('no tail to read at an aligned end'); });
  await a.close();
  t.equal(statSync(path).size, DIRECT_ALIGN);
});
