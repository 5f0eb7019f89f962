import { pino, type Logger, type LoggerOptions } from 'pino';

// Paths that may carry secrets anywhere in a log object. pino's redaction is
// a last line of defence: code must not log secrets in the first place.
const REDACT = [
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'key',
  '*.key',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  '*.privateKey',
];

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Per-namespace levels, e.g. { broker: 'debug' }. */
  levels?: Record<string, string>;
  /** Where to write; defaults to stdout. Tests pass a stream to capture output. */
  destination?: NodeJS.WritableStream;
}

/** Root logger. Create one per process and hand it down in the context object. */
export function createRootLogger(options: LogOptions = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? process.env.TILLBOX_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

/** A child logger for one module; `ns` appears on every line it writes. */
export function namespaced(root: Logger, ns: string, levels?: Record<string, string>): Logger {
  const child = root.child({ ns });
  const level = levels?.[ns];
  if (level) child.level = level;
  return child;
}

/** A logger that drops everything: the default for library code used in tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
