import { createRootLogger, namespaced, silentLogger, type Logger } from '../lib/log.ts';

// HQ logging: lib/log.ts (the same as the box's), with `proc: hq` on every line.

export type { Logger };

export interface HqLogOptions {
  level?: string;
  /** Per-namespace levels, e.g. { ingest: 'debug' }. */
  levels?: Record<string, string>;
  destination?: NodeJS.WritableStream;
}

export function createHqLogger(options: HqLogOptions = {}): Logger {
  return createRootLogger({ ...options, base: { pid: process.pid, proc: 'hq' }, levelEnv: 'HQ_LOG_LEVEL' });
}

export { namespaced, silentLogger };
