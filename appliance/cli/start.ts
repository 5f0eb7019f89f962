import { extname, resolve } from 'node:path';
import { loadConfig } from '../config/index.ts';
import { createRootLogger, namespaced } from '../log.ts';
import { Supervisor, type ChildSpec } from '../supervisor/supervisor.ts';
import { resolveStateDir } from '../state/state-dir.ts';
import { flowsPermissionArgs } from './flows-permissions.ts';

export interface StartOptions {
  config?: string;
  demo?: boolean;
  stateDir?: string;
  /** Also run the reference HQ (cloud/, embedded cloud broker + PGlite) and point the box at it: `npm start`. */
  withHq?: boolean;
}

// .ts in a checkout, .js where the image build compiled the code (tsconfig.build.json).
const EXT = extname(import.meta.filename);
const MAIN = resolve(import.meta.dirname, `main${EXT}`);
// Spawned by path, not imported: the box never depends on HQ code.
const HQ_MAIN = resolve(import.meta.dirname, `../../cloud/hq/main${EXT}`);

/**
 * `tillbox start`: every process of the box (core, devices, flows; plus the
 * demo HQ with --with-hq) as supervised children, each restarted alone.
 */
export async function runStart(opts: StartOptions): Promise<number> {
  const common = [...(opts.config ? ['--config', opts.config] : []), ...(opts.demo ? ['--demo'] : []), ...(opts.stateDir ? ['--state-dir', opts.stateDir] : [])];
  const log = namespaced(createRootLogger(), 'supervisor');
  const enabled = enabledProcesses(opts);
  const hq = opts.withHq ? demoHq() : undefined;
  const supervisor = new Supervisor({
    log,
    children: [
      ...(hq ? [hq.child] : []),
      { name: 'core', args: [MAIN, 'core', ...common], stopLast: true, ...(hq ? { env: hq.boxEnv } : {}) },
      // The devices process waits for core itself; its crash is restarted alone and never stops selling.
      ...(enabled.devices ? [{ name: 'devices', args: [MAIN, 'devices', ...common] }] : []),
      // Integrator flows run in their own process with the flows role; a flow that spins or throws never reaches selling.
      // Under Node's permission model from the first instruction (no re-exec; the same flags as the image's unit).
      ...(enabled.flows ? [{ name: 'flows', args: [...(enabled.flowsPermission ?? []), MAIN, 'flows', ...common] }] : []),
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

/**
 * `devices.enabled` / `flows.enabled: false` keep those processes out (a box
 * without peripherals or flows). A bad config is core's to report, with exit 2.
 */
function enabledProcesses(opts: StartOptions): { devices: boolean; flows: boolean; flowsPermission?: string[] } {
  try {
    const config = loadConfig({ file: opts.config, overrides: opts.demo ? { demo: true } : {} });
    const stateDir = resolveStateDir(process.env, opts.stateDir);
    return {
      devices: config.devices.enabled,
      flows: config.flows.enabled,
      ...(config.flows.hardened ? { flowsPermission: flowsPermissionArgs({ stateDir, configFile: opts.config, config }) } : {}),
    };
  } catch {
    return { devices: true, flows: true };
  }
}

/** The demo HQ child and where the box finds its broker (TILLBOX_CLOUD_URL, unless already set). */
function demoHq(): { child: ChildSpec; boxEnv: NodeJS.ProcessEnv } {
  const port = process.env.HQ_MQTT_PORT ?? '1884';
  return {
    child: { name: 'hq', args: [HQ_MAIN], env: { HQ_MQTT_PORT: port } },
    boxEnv: process.env.TILLBOX_CLOUD_URL ? {} : { TILLBOX_CLOUD_URL: `mqtt://127.0.0.1:${port}` },
  };
}
