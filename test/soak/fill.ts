import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { dataByte, fileName } from './names.js';

/**
 * One creator process of the scale soak (test/soak/scale.ts starts several, each on its own range):
 *   node fill.js DIR FROM TO DATA_EVERY CONCURRENCY
 * creates DIR/f<i> for FROM <= i < TO, `CONCURRENCY` at a time. Every DATA_EVERY-th file gets 4 KiB of
 * data (one byte value, from its index) so the soak can read it back and check it; the rest are empty.
 * Each file is closed before it counts (close is durable on a quorum in tidefs). Exits 0 when all exist.
 */
const [dir, fromArg, toArg, everyArg, concArg] = process.argv.slice(2);
const from = Number(fromArg);
const to = Number(toArg);
const every = Number(everyArg);
const concurrency = Number(concArg);
if (!dir || !(to >= from) || !(every >= 1) || !(concurrency >= 1)) {
  process.stderr.write('usage: node fill.js DIR FROM TO DATA_EVERY CONCURRENCY\n');
  process.exit(2);
}

async function createOne(i: number): Promise<void> {
  const fh = await open(join(dir!, fileName(i)), 'wx');
  try {
    if (i % every === 0) await fh.write(Buffer.alloc(4096, dataByte(i)));
  } finally {
    await fh.close();
  }
}

async function main(): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) await createOne(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`fill ${fromArg}..${toArg}: ${(e as Error).message}\n`);
  process.exit(1);
});
