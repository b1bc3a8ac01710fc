// Runs the compiled test files one after another, streams their TAP output, and prints the plain
// closing line CI reads: "N passed, N failed". A test counts once: each subtest of a file, or the file
// itself when it has none.
//
// Each file runs as `node <file>` (the tap library prints TAP by itself), not through tap's runner:
// the runner loads its TypeScript loader and process-info plugins into every file's process, which
// cost ~1.6 s per file here (data-reply.test: 0.45 s alone, 4.1 s through `tap`), ~3 of the suite's
// ~12.5 minutes. The output keeps the runner's shape: each file's TAP indented under "# Subtest:".
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SLOW = process.env.TIDEFS_TEST_SOAK === '1';
const TAP_TIMEOUT_S = 600; // tap's own timeout per test: it fails the test and runs its teardowns
const FILE_TIMEOUT_MS = 660_000; // past that, the file's process group is stopped and counted as failed
const KILL_GRACE_MS = 10_000; // between SIGTERM (mounts unmount, nodes close) and SIGKILL

function findTests(dir) {
  let out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(findTests(p));
    else if (e.endsWith('.test.js') && (SLOW || !e.endsWith('.soak.test.js'))) out.push(p);
  }
  return out.sort();
}
const args = process.argv.slice(2);
const files = args.length ? args.flatMap((a) => (statSync(a).isDirectory() ? findTests(a) : [a])) : findTests('dist/test');

let passed = 0, failed = 0;
const failures = [];
let current = null;
/** A test file runs in its own process group, so its nodes, mounts and writers stop with it. */
function stopGroup(child, sig) {
  try { process.kill(-child.pid, sig); } catch { /* already gone */ }
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => {
  process.exitCode = 1;
  const child = current;
  if (!child) return;
  stopGroup(child, 'SIGTERM');
  setTimeout(() => stopGroup(child, 'SIGKILL'), KILL_GRACE_MS).unref();
});

/** One file: its subtests (depth 0 of its own output) count, or the file once if it has none. */
function runFile(file) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    // TAP_TIMEOUT: tap's own per-test timeout (30 s unless set; tap's runner set it from --timeout).
    const env = { ...process.env, TAP_TIMEOUT: String(TAP_TIMEOUT_S) };
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'], env, detached: true });
    current = child;
    let buf = '', subtests = 0, bad = 0, inSubtest = false, assertFailed = false;
    const names = [];
    const point = /^(not ok|ok) \d+ (?:- )?(.*?)(?: # time=.*)?$/;
    const onLine = (line) => {
      process.stdout.write(`    ${line}\n`);
      if (line.startsWith('# Subtest:')) { inSubtest = true; return; }
      const m = point.exec(line);
      if (!m) return;
      // A point at depth 0 right after its "# Subtest:" is a subtest; otherwise a top-level assert.
      if (!inSubtest) { if (m[1] !== 'ok') assertFailed = true; return; }
      inSubtest = false;
      subtests++;
      if (m[1] === 'ok') passed++;
      else { failed++; bad++; names.push(`${file}: ${m[2]}`); }
    };
    child.stdout.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); }
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stopGroup(child, 'SIGTERM');
      setTimeout(() => stopGroup(child, 'SIGKILL'), KILL_GRACE_MS).unref();
    }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (buf) onLine(buf);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const why = timedOut ? `timed out after ${FILE_TIMEOUT_MS / 1000} s` : signal ? `killed by ${signal}` : assertFailed ? 'a top-level assertion failed' : code !== 0 ? `exit code ${code}` : '';
      const fileOk = !why && bad === 0;
      if (subtests === 0) { if (fileOk) passed++; else { failed++; failures.push(`${file} (${why})`); } }
      else if (!fileOk && bad === 0) { failed++; failures.push(`${file} (${why})`); }
      failures.push(...names);
      resolve({ ok: fileOk, ms });
    });
  });
}

console.log('TAP version 14');
let n = 0;
for (const file of files) {
  console.log(`# Subtest: ${file}`);
  const r = await runFile(file);
  console.log(`${r.ok ? 'ok' : 'not ok'} ${++n} - ${file} # time=${r.ms.toFixed(3)}ms`);
  if (process.exitCode) break; // interrupted
}
console.log(`1..${n}`);
if (failures.length) console.log(`\nFailed:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
if (n < files.length) { failed++; console.log(`stopped after ${n} of ${files.length} files`); }
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
