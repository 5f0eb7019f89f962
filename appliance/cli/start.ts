import { resolve } from 'node:path';
import { loadConfig } from '../config/index.ts';
import { createRootLogger, namespaced } from '../log.ts';
import { Supervisor } from '../supervisor/supervisor.ts';

export interface StartOptions {
  config?: string;
  demo?: boolean;
  stateDir?: string;
}

const MAIN = resolve(import.meta.dirname, 'main.ts');

/**
 * `tillbox start`: every process of the box as supervised children (core now;
 * devices and flows join as they land). Each is restarted alone when it dies.
 */
export async function runStart(opts: StartOptions): Promise<number> {
  const common = [...(opts.config ? ['--config', opts.config] : []), ...(opts.demo ? ['--demo'] : []), ...(opts.stateDir ? ['--state-dir', opts.stateDir] : [])];
  const log = namespaced(createRootLogger(), 'supervisor');
  const supervisor = new Supervisor({
    log,
    children: [
      { name: 'core', args: [MAIN, 'core', ...common] },
      // The devices process waits for core itself; its crash is restarted alone and never stops selling.
      ...(devicesEnabled(opts) ? [{ name: 'devices', args: [MAIN, 'devices', ...common] }] : []),
      // Integrator flows run in their own process with the flows role; a flow that spins or throws never reaches selling.
      ...(flowsEnabled(opts) ? [{ name: 'flows', args: [MAIN, 'flows', ...common] }] : []),
    ],
    onFatal: (_name, code) => finish(code),
  });
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((res) => {
    finish = res;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => res(0));
  });
  supervisor.start();
  const code = await done;
  await supervisor.stop();
  return code;
}

/** `devices.enabled: false` keeps the devices process out (a box without peripherals). A bad config is core's to report. */
function devicesEnabled(opts: StartOptions): boolean {
  try {
    return loadConfig({ file: opts.config, overrides: opts.demo ? { demo: true } : {} }).devices.enabled;
  } catch {
    return true;
  }
}

/** `flows.enabled: false` keeps the flows process (Node-RED) out. A bad config is core's to report. */
function flowsEnabled(opts: StartOptions): boolean {
  try {
    return loadConfig({ file: opts.config, overrides: opts.demo ? { demo: true } : {} }).flows.enabled;
  } catch {
    return true;
  }
}
