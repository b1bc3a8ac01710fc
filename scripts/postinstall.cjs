// Runs after `npm ci`/`npm install`: applies the project's patches to dependencies (patches/*.patch)
// and rebuilds what they change. Kept in a file so its steps can say what they do.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const patches = path.join(root, 'patches');
if (existsSync(patches) && readdirSync(patches).some((f) => f.endsWith('.patch'))) {
  execFileSync(process.execPath, [require.resolve('patch-package/index.js', { paths: [root] })], { cwd: root, stdio: 'inherit' });
}
