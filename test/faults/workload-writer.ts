// The writing half of Workload (helpers.ts), run as its own process. The test process must never hold
// a file of the mount open: it also hosts the link proxies every peer link goes through and forks node
// processes, and a fork+exec by a process with a mount file open makes the kernel send FLUSH for it
// while execve runs (close-on-exec). That FLUSH commits the buffered writes and so needs a Raft quorum,
// i.e. the proxies; when the parent is the one waiting for the exec, its event loop, and with it every
// proxy, stops, and the mount's flush can only fail after its 60 s retry budget (EIO).
// argv: dir, sizeMax, writers. IPC out: {name, sha, bytes, atMs, ms} or {name, error, atMs, ms}; in: 'stop'.
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const [dir, sizeMaxArg, writersArg] = process.argv.slice(2) as [string, string, string];
const sizeMax = Number(sizeMaxArg);
let stopped = false;
let n = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const send = (m: unknown) => new Promise<void>((r) => process.send!(m, () => r()));

async function loop(w: number): Promise<void> {
  while (!stopped) {
    const name = `w${w}-${n++}`;
    const data = randomBytes(1 + Math.floor(Math.random() * sizeMax));
    const atMs = Date.now();
    try {
      await writeFile(join(dir, name), data);
      await send({ name, sha: createHash('sha256').update(data).digest('hex'), bytes: data.length, atMs, ms: Date.now() - atMs });
    } catch (e) {
      await send({ name, error: (e as Error).message, atMs, ms: Date.now() - atMs });
    }
    await sleep(20);
  }
}

process.on('message', (m) => { if (m === 'stop') stopped = true; });
process.on('disconnect', () => { stopped = true; }); // the test process went away
await Promise.all(Array.from({ length: Number(writersArg) }, (_, w) => loop(w)));
process.disconnect?.();
