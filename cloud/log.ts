import { pino, type Logger } from 'pino';

// HQ logging: one root pino logger per process, a child per namespace
// (`ns` on every line), per-namespace levels. Never a secret in a log line.

export type { Logger };

export interface HqLogOptions {
  level?: string;
  /** Per-namespace levels, e.g. { ingest: 'debug' }. */
  levels?: Record<string, string>;
  destination?: NodeJS.WritableStream;
}

export function createHqLogger(options: HqLogOptions = {}): Logger {
  const opts = {
    level: options.level ?? process.env.HQ_LOG_LEVEL ?? 'info',
    base: { pid: process.pid, proc: 'hq' },
    redact: { paths: ['password', '*.password', 'token', '*.token', 'connectionString', '*.connectionString'], censor: '[redacted]' },
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

export function namespaced(root: Logger, ns: string, levels?: Record<string, string>): Logger {
  const child = root.child({ ns });
  const level = levels?.[ns];
  if (level) child.level = level;
  return child;
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
