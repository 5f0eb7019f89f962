import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

/** Default in development; the image sets TILLBOX_STATE_DIR=/var/lib/tillbox. */
export const DEFAULT_STATE_DIR = './.tillbox';

export function resolveStateDir(env: NodeJS.ProcessEnv = process.env, flag?: string): string {
  return resolve(flag ?? env.TILLBOX_STATE_DIR ?? DEFAULT_STATE_DIR);
}

/**
 * Creates the state dir (0700: it holds secrets and the journal). Search
 * permission for others (0711, set by the image's first boot) is left alone:
 * there the devices and flows services run as users of their own and reach
 * their own subdirectories and runtime.json through it, without being able to
 * list the dir; core's secrets, keys and stores in it are 0600 or in 0700
 * directories (runtime.json and device-id are 0644 on purpose).
 */
export function ensureStateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is masked by umask and ignored for an existing dir; tighten explicitly.
  if ((statSync(dir).mode & 0o066) !== 0) chmodSync(dir, 0o700);
}

/**
 * A secrets file a service reads. On the image systemd hands it over as a
 * credential (LoadCredential=, $CREDENTIALS_DIRECTORY) readable by the
 * service's own user only, so devices and flows need no access to core's
 * files; elsewhere the file itself in the state dir.
 */
export function credentialFile(file: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir) return file;
  const passed = join(dir, basename(file));
  return existsSync(passed) ? passed : file;
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
    /** The devices process's own secrets (its MQTT account, a till token for reprints). */
    devicesSecrets: resolve(stateDir, 'devices-secrets.json'),
    /** The flows process's Node-RED user dir: the only place it may write. */
    flows: resolve(stateDir, 'flows'),
    deviceId: resolve(stateDir, 'device-id'),
    publishCursor: resolve(stateDir, 'publish-cursor'),
    runtime: resolve(stateDir, 'runtime.json'),
  };
}
