// Runs after `npm ci`/`npm install`: applies the project's patches to dependencies (patches/*.patch)
// and rebuilds what they change. Kept in a file so its steps can say what they do.
//
// fuse-native: patches/fuse-native+<version>.patch changes its C addon (lock/flock, nanosecond times,
// 64-bit fields...), so the prebuilt binary it ships no longer matches its index.js. We rebuild the
// addon in place (node_modules/fuse-native/build/Release, which node-gyp-build loads before the
// prebuilds) with the node-gyp that npm bundles, against the local Node headers: there may be no
// network to download headers from. A failed rebuild must stop the install: the stale prebuild would
// otherwise load and misread every stat and lock reply.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const patches = path.join(root, 'patches');
const patchFiles = existsSync(patches) ? readdirSync(patches).filter((f) => f.endsWith('.patch')) : [];

function fail(message) {
  console.error(`\n[tidefs postinstall] FAILED: ${message}\n`);
  process.exit(1);
}

function applyPatches() {
  let patchPackage;
  try {
    patchPackage = require.resolve('patch-package/index.js', { paths: [root] });
  } catch {
    fail('patch-package is not installed (an install without devDependencies?); it is needed to apply patches/*.patch');
  }
  try {
    execFileSync(process.execPath, [patchPackage, '--error-on-fail'], { cwd: root, stdio: 'inherit' });
  } catch {
    fail('patch-package could not apply patches/*.patch (see its output above). If node_modules holds a package ' +
      'patched by an older version of the patch, reinstall it clean: `npm ci`.');
  }
}

// npm sets npm_config_node_gyp for scripts; otherwise use the node-gyp bundled with the npm that
// runs us, or with the npm installed next to this node.
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  const prefix = path.dirname(path.dirname(process.execPath));
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const found = candidates.find((c) => existsSync(c));
  if (!found) fail(`node-gyp not found (looked at: ${candidates.join(', ')})`);
  return found;
}

// node-gyp downloads headers unless it is told where they are. Prefer the configured nodedir; else
// the headers installed with this node (<prefix>/include/node), as Debian's and the official
// tarballs' layouts have them.
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  const prefix = path.dirname(path.dirname(process.execPath));
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return [`--nodedir=${prefix}`];
  return [];
}

function rebuildFuseNative() {
  let dir;
  try {
    dir = path.dirname(require.resolve('fuse-native/package.json', { paths: [root] }));
  } catch {
    fail('fuse-native is patched but not installed');
  }
  const nodeGyp = findNodeGyp();
  const args = [nodeGyp, 'rebuild', '--loglevel=warn', ...nodedirArgs()];
  console.log(`[tidefs postinstall] rebuilding fuse-native: node ${args.join(' ')} (in ${dir})`);
  try {
    execFileSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    fail('rebuilding fuse-native failed (see node-gyp output above). It needs a C compiler (apt: build-essential), libfuse2 (apt: libfuse2 or libfuse2t64), ' +
      'python3, and Node headers (npm config nodedir, or <node prefix>/include/node).');
  }
  // Load the fresh addon in a child (a crash must not take the install down with an unclear message)
  // and check it is the patched one.
  const probe = `const b = require(${JSON.stringify(path.join(dir, 'build', 'Release', 'fuse.node'))});
    if (typeof b.fuse_native_signal_lock !== 'function' || !b.constants) process.exit(3);`;
  try {
    execFileSync(process.execPath, ['-e', probe], { stdio: 'inherit' });
  } catch {
    fail(`the rebuilt ${path.join(dir, 'build', 'Release', 'fuse.node')} does not load or lacks the patched lock support`);
  }
  console.log('[tidefs postinstall] fuse-native rebuilt with the tidefs patch');
}

if (patchFiles.length) applyPatches();
if (patchFiles.some((f) => f.startsWith('fuse-native+'))) rebuildFuseNative();
