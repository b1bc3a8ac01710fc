/**
 * Logs are lines a person reads: `2026-11-21T12:00:00.000Z n1 raft: became leader at term 3`.
 * The clock is injected where logging happens in pure modules (they return events instead).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  child(component: string): Logger;
}

export function createLogger(prefix: string, opts: { level?: Level; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[opts.level ?? ((process.env.TIDEFS_LOG as Level | undefined) ?? 'info')] ?? ORDER.info;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (lvl: Level, msg: string) => {
    if (ORDER[lvl] < min) return;
    const tag = lvl === 'info' ? '' : `${lvl.toUpperCase()} `;
    write(`${new Date().toISOString()} ${prefix}: ${tag}${msg}`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    child: (c) => createLogger(`${prefix} ${c}`, opts),
  };
}

/** For tests and pure code paths that must not print. */
export const silentLogger: Logger = {
  debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger,
};
