// Runs the compiled test files with tap, streams their TAP output, and prints the plain closing line
// CI reads: "N passed, N failed". A test counts once: each subtest of a file, or the file itself when
// it has none.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SLOW = process.env.TIDEFS_TEST_SOAK === '1';
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

const tap = spawn('npx', ['tap', '--disable-coverage', '--allow-empty-coverage', '-R', 'tap', '--timeout=600',
  `--jobs=${process.env.TIDEFS_TEST_JOBS ?? 1}`, ...files], { stdio: ['ignore', 'pipe', 'inherit'] });

let passed = 0, failed = 0, childPoints = 0, buf = '';
const failures = [];
const point = /^( *)(not ok|ok) \d+ (?:- )?(.*)$/;
tap.stdout.on('data', (d) => {
  process.stdout.write(d);
  buf += d.toString();
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    const m = point.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    const isOk = m[2] === 'ok';
    if (depth === 1) {
      childPoints++;
      if (isOk) passed++; else { failed++; failures.push(m[3]); }
    } else if (depth === 0) {
      if (childPoints === 0) { if (isOk) passed++; else { failed++; failures.push(m[3]); } }
      else if (!isOk && !failures.length) { failed++; failures.push(`${m[3]} (file)`); }
      childPoints = 0;
    }
  }
});
tap.on('close', (code) => {
  if (failures.length) console.log(`\nFailed:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
  if (code !== 0 && failed === 0) { failed = 1; console.log(`tap exited with code ${code}`); }
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
