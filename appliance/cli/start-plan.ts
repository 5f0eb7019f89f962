import { loadConfig } from '../config/index.ts';
import { resolveStateDir } from '../state/state-dir.ts';
import { flowsEnv, flowsPermissionArgs } from './flows-permissions.ts';
import type { StartOptions } from './start.ts';

// What `tillbox start` needs from the config: which processes run, and the
// permission-model flags of the flows process. Computed in a short-lived
// child (`tillbox start --print-plan`) so the long-lived supervisor never
// loads the config stack (TypeBox, ajv, yaml: ~35 MB of resident memory,
// issue 14); the config stays the one source of truth.

export interface StartPlan {
  devices: boolean;
  flows: boolean;
  /** Node flags of the flows child when flows.hardened (appliance/cli/flows-permissions.ts). */
  flowsPermission?: string[];
  /** Environment of the flows child (its compile cache in its own dir: flows-permissions.ts flowsEnv). */
  flowsEnv?: Record<string, string>;
}

/**
 * `devices.enabled` / `flows.enabled: false` keep those processes out (a box
 * without peripherals or flows). A bad config is core's to report, with exit 2.
 */
export function startPlan(opts: StartOptions): StartPlan {
  try {
    const config = loadConfig({ file: opts.config, overrides: opts.demo ? { demo: true } : {} });
    const stateDir = resolveStateDir(process.env, opts.stateDir);
    return {
      devices: config.devices.enabled,
      flows: config.flows.enabled,
      flowsEnv: flowsEnv(stateDir),
      ...(config.flows.hardened ? { flowsPermission: flowsPermissionArgs({ stateDir, configFile: opts.config, config }) } : {}),
    };
  } catch {
    return { devices: true, flows: true };
  }
}
