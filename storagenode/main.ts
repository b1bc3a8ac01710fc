import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../shared/log.js';
import { buildConfig, ConfigError, NODE_USAGE, parseFlags, type NodeConfig } from './config.js';
import { missingHeapFlags } from './heap-flags.js';
import { mallocTunablesWarning } from '../shared/malloc-tunables.js';
import { StorageNode } from './node.js';

/** Reads flags and the optional JSON config file; a ConfigError means a usage mistake (exit 2). */
export function loadConfig(argv: string[]): NodeConfig {
  const flags = parseFlags(argv);
  let file: Record<string, unknown> = {};
  if (flags.config) {
    let text: string;
    try {
      text = readFileSync(flags.config, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${flags.config}: ${(e as Error).message}`);
    }
    try {
      const v: unknown = JSON.parse(text);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
      file = v as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`config file ${flags.config} is not a JSON object: ${(e as Error).message}`);
    }
  }
  const { config: _ignored, ...rest } = flags;
  return buildConfig(file, rest);
}

/**
 * `tidefs node ...`: runs one storage node until SIGTERM/SIGINT. Resolves with the exit code only
 * for usage and startup errors; a running node exits from its signal handler.
 */
export async function runNode(argv: string[]): Promise<number> {
  let cfg: NodeConfig;
  try {
    cfg = loadConfig(argv);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`tidefs node: ${e.message}\n${NODE_USAGE}\n`);
    return 2;
  }
  const log = createLogger(cfg.id);
  // A bug outside any request handler leaves the node in an unknown state: say so and exit, so a
  // supervisor restarts it from its durable state instead of serving from a broken one.
  process.on('uncaughtException', (e) => {
    log.error(`bug: uncaught exception, exiting: ${e.stack ?? e}`);
    process.exit(70);
  });
  process.on('unhandledRejection', (e) => {
    log.error(`bug: unhandled rejection, exiting: ${(e as Error)?.stack ?? e}`);
    process.exit(70);
  });
  const missing = missingHeapFlags();
  if (missing.length) {
    log.warn(`started without ${missing.join(' ')} (node ${missing.join(' ')} bin/tidefs node ...): expect about twice the CPU per byte stored, spent in garbage collection (storagenode/heap-flags.ts)`);
  }
  const malloc = mallocTunablesWarning();
  if (malloc) log.warn(malloc);
  let node: StorageNode;
  try {
    node = await StorageNode.start(cfg, log);
  } catch (e) {
    log.error(`cannot start: ${(e as Error)?.stack ?? e}`);
    return 1;
  }
  const onSignal = (sig: string) => {
    node.stop(`received ${sig}`).then(() => process.exit(0), (e: Error) => {
      log.error(`shutdown failed: ${e.stack ?? e}`);
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  return new Promise<number>(() => {}); // runs until a signal
}

// Run directly: `node dist/storagenode/main.js --id n1 ...` (what tests spawn).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runNode(process.argv.slice(2)).then((code) => process.exit(code));
}
