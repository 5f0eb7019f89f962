import { createRequire } from 'node:module';
import { isatty } from 'node:tty';
import { pino, type Logger, type LoggerOptions } from 'pino';
import type pretty from 'pino-pretty';

// pino-pretty is loaded only when a terminal reads the output: a box under
// systemd or a supervisor writes JSON and does not carry its ~2 MB (issue 14).
const require = createRequire(import.meta.url);

// One logging setup for every tillbox process (box and HQ): a root pino
// logger per process, a child per module namespace (`ns` on every line),
// per-namespace levels, redaction as the last line of defence (code must not
// log secrets in the first place). JSON lines when the output is not a
// terminal (journald, CI, files); a compact human format when it is
// (TILLBOX_LOG_FORMAT=json|pretty overrides).

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
  'connectionString',
  '*.connectionString',
];

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Per-namespace levels, e.g. { broker: 'debug' }. */
  levels?: Record<string, string>;
  /** Where to write; defaults to stdout. Tests pass a stream to capture output. */
  destination?: NodeJS.WritableStream;
  /** File descriptor the destination writes to (for the terminal check; default 1). */
  fd?: number;
  /** Fields on every line (default { pid }). */
  base?: Record<string, unknown>;
  /** Environment variable that sets the level when `level` is not given. */
  levelEnv?: string;
}

/** Root logger. Create one per process and hand it down in the context object. */
export function createRootLogger(options: LogOptions = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? process.env[options.levelEnv ?? 'TILLBOX_LOG_LEVEL'] ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    base: options.base ?? { pid: process.pid },
  };
  const fd = options.fd ?? 1;
  const format = process.env.TILLBOX_LOG_FORMAT ?? (isatty(fd) ? 'pretty' : 'json');
  if (format === 'pretty' && (!options.destination || options.fd !== undefined)) {
    // Synchronous, in-process (no worker thread: the flows process may not start one).
    const stream = (require('pino-pretty') as typeof pretty)({
      destination: fd,
      sync: true,
      colorize: isatty(fd),
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,ns',
      messageFormat: '{if ns}{ns}: {end}{msg}',
      singleLine: true,
    });
    return pino(opts, stream);
  }
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
