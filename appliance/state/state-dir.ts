import { mkdirSync, chmodSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

/** Default in development; the image sets TILLBOX_STATE_DIR=/var/lib/tillbox. */
export const DEFAULT_STATE_DIR = './.tillbox';

export function resolveStateDir(env: NodeJS.ProcessEnv = process.env, flag?: string): string {
  return resolve(flag ?? env.TILLBOX_STATE_DIR ?? DEFAULT_STATE_DIR);
}

/** Creates the state dir (0700: it holds secrets and the journal). */
export function ensureStateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is masked by umask and ignored for an existing dir; tighten explicitly.
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/** Where each part of the box keeps its files, all under one state dir. */
export function statePaths(stateDir: string) {
  return {
    root: stateDir,
    journal: resolve(stateDir, 'journal'),
    broker: resolve(stateDir, 'broker'),
    secrets: resolve(stateDir, 'secrets.json'),
    /** The flows process's own secrets (its MQTT account, the editor login hash): all it may read. */
    flowsSecrets: resolve(stateDir, 'flows-secrets.json'),
    /** The flows process's Node-RED user dir: the only place it may write. */
    flows: resolve(stateDir, 'flows'),
    deviceId: resolve(stateDir, 'device-id'),
    publishCursor: resolve(stateDir, 'publish-cursor'),
    runtime: resolve(stateDir, 'runtime.json'),
  };
}
