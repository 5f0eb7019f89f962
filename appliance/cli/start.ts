import { execFile } from 'node:child_process';
import { extname, resolve } from 'node:path';
import { createRootLogger, namespaced, type Logger } from '../log.ts';
import { Supervisor, type ChildSpec } from '../supervisor/supervisor.ts';
import { nodeFlags } from './node-flags.ts';
import type { StartPlan } from './start-plan.ts';

// `tillbox start` stays small (issue 14): it lives as long as the box, so it
// imports only the supervisor and the logger. What it needs from the config
// comes from a short-lived child (start-plan.ts), asked while core starts.

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
  const hq = opts.withHq ? demoHq() : undefined;
  const supervisor = new Supervisor({
    log,
    children: [...(hq ? [hq.child] : []), { name: 'core', args: [...nodeFlags('core'), MAIN, 'core', ...common], stopLast: true, ...(hq ? { env: hq.boxEnv } : {}) }],
    onFatal: (_name, code) => finish(code),
  });
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((res) => {
    finish = res;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => res(0));
  });
  supervisor.start();
  // devices and flows wait for core's broker anyway: asking the plan while core starts costs no start time.
  void askPlan(common, log).then((plan) => {
    // The devices process waits for core itself; its crash is restarted alone and never stops selling.
    if (plan.devices) supervisor.add({ name: 'devices', args: [...nodeFlags('devices'), MAIN, 'devices', ...common] });
    // Integrator flows run in their own process with the flows role; a flow that spins or throws never reaches selling.
    // Under Node's permission model from the first instruction (no re-exec; the same flags as the image's unit).
    if (plan.flows) supervisor.add({ name: 'flows', args: [...nodeFlags('flows'), ...(plan.flowsPermission ?? []), MAIN, 'flows', ...common], ...(plan.flowsEnv ? { env: plan.flowsEnv } : {}) });
  });
  const code = await done;
  await supervisor.stop();
  return code;
}

/** `tillbox start --print-plan` in a child; a child that fails means the defaults (core reports a bad config). */
function askPlan(common: string[], log: Logger): Promise<StartPlan> {
  return new Promise((res) => {
    execFile(process.execPath, [MAIN, 'start', '--print-plan', ...common], { maxBuffer: 1 << 20 }, (err, stdout) => {
      try {
        if (err) throw err;
        res(JSON.parse(stdout) as StartPlan);
      } catch (e) {
        log.warn({ err: e }, 'could not read the start plan; starting every process');
        res({ devices: true, flows: true });
      }
    });
  });
}

/** The demo HQ child and where the box finds its broker (TILLBOX_CLOUD_URL, unless already set). */
function demoHq(): { child: ChildSpec; boxEnv: NodeJS.ProcessEnv } {
  const port = process.env.HQ_MQTT_PORT ?? '1884';
  return {
    child: { name: 'hq', args: [HQ_MAIN], env: { HQ_MQTT_PORT: port } },
    boxEnv: process.env.TILLBOX_CLOUD_URL ? {} : { TILLBOX_CLOUD_URL: `mqtt://127.0.0.1:${port}` },
  };
}
