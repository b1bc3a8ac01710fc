#!/usr/bin/env node
/**
 * The client process entry: `node dist/client/main.js mount URLS MOUNTPOINT [flags]` or
 * `... umount MOUNTPOINT` (the same argv as `tidefs`, see client/cli/main.ts). The daemonized mount
 * re-runs this file with --foreground.
 */
import { main } from './cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exit(code); },
  (e: Error) => {
    process.stderr.write(`tidefs: ${e.stack ?? e}\n`);
    process.exit(1);
  },
);
