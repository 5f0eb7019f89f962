import { pino } from 'pino';
import { loadConfig, type Config } from '../config/index.ts';
import { isTillboxError } from '../../contract/errors.ts';
import { createRootLogger, type Logger } from '../log.ts';
import { resolveStateDir } from '../state/state-dir.ts';

/** Options every process subcommand (core, devices, flows) takes. */
export interface ProcessOptions {
  config?: string;
  demo?: boolean;
  stateDir?: string;
}

export interface ProcessSetup {
  config: Config;
  stateDir: string;
  /** JSON lines on stderr (journald keeps them on the image); stdout is for the short human summary. */
  log: Logger;
}

/**
 * Config, state dir and logger for one tillbox process. An invalid config is
 * printed (every problem by field path) and yields undefined: the caller
 * exits 2, which the supervisor does not retry.
 */
export function setupProcess(opts: ProcessOptions): ProcessSetup | undefined {
  let config: Config;
  try {
    config = loadConfig({ file: opts.config, overrides: opts.demo ? { demo: true } : {} });
  } catch (err) {
    if (isTillboxError(err)) {
      console.error(err.message);
      return undefined;
    }
    throw err;
  }
  const log = createRootLogger({
    level: config.log.level,
    levels: config.log.levels,
    destination: pino.destination({ fd: 2, sync: false }) as unknown as NodeJS.WritableStream,
  });
  return { config, stateDir: resolveStateDir(process.env, opts.stateDir), log };
}
