import { pino } from 'pino';
import { loadConfig, type Config } from '../config/index.ts';
import { isTillboxError } from '../../contract/errors.ts';
import { createRootLogger, type Logger } from '../log.ts';
import { resolveStateDir } from '../state/state-dir.ts';
import { dropMqttNumberCache } from '../../lib/mqtt-number-cache.ts';

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
  dropMqttNumberCache();
  const log = createRootLogger({
    level: config.log.level,
    levels: config.log.levels,
    destination: pino.destination({ fd: 2, sync: false }) as unknown as NodeJS.WritableStream,
    // JSON lines for journald and CI; a compact human format when stderr is a terminal.
    fd: 2,
  });
  return { config, stateDir: resolveStateDir(process.env, opts.stateDir), log };
}

/** How long a stopping process may take before it exits anyway (under systemd's and the supervisor's bound). */
export const STOP_DEADLINE_MS = 3000;

/**
 * Waits for SIGINT/SIGTERM, runs `stop`, and makes sure the process ends:
 * if `stop` takes longer than STOP_DEADLINE_MS, or handles (a native poller,
 * a reconnect timer) keep the event loop alive after it, the process exits
 * with the code anyway and logs which resources were still open.
 */
export async function untilSignalThenStop(log: Logger, stop: (signal: NodeJS.Signals) => Promise<void>): Promise<void> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve(sig));
  });
  const force = (why: string): void => {
    log.warn({ resources: process.getActiveResourcesInfo() }, why);
    log.flush();
    process.exit(process.exitCode ?? 0);
  };
  const deadline = setTimeout(() => force('stop took too long; exiting anyway'), STOP_DEADLINE_MS);
  deadline.unref();
  await stop(signal).catch((err: unknown) => log.error({ err }, 'error while stopping'));
  clearTimeout(deadline);
  // Everything this process owns is closed: if something native still holds
  // the event loop, do not wait for it.
  setTimeout(() => force('handles still open after stop; exiting'), 500).unref();
}
