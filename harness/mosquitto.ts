import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { freePort } from './ports.ts';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// A real Mosquitto 2 (Debian package) for tests: its own temp config and
// persistence dir, a free port on 127.0.0.1, anonymous clients allowed on
// loopback only. stop/kill/restart helpers for fault tests (a restart keeps
// the port and the persistence dir, so QoS 1 sessions survive a clean stop).
//
// Used by HQ's tests (cloud/, test/cloud/) and the box's cloud-bridge tests.
// In CI these must run, never skip: a missing binary is a failure that names
// the setup script.

export const MOSQUITTO_BIN = process.env.TILLBOX_MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';

export interface MosquittoOptions {
  /** Extra mosquitto.conf lines (e.g. `max_queued_messages 100`). */
  extraConfig?: string[];
  /** Lines before the first listener (e.g. `per_listener_settings true`, which must come first). */
  preConfig?: string[];
  /** Seconds between persistence saves (default 1; 0 would save on every change). */
  autosaveInterval?: number;
}

export interface Mosquitto {
  port: number;
  /** mqtt://127.0.0.1:{port} */
  url: string;
  dir: string;
  /** Everything mosquitto printed since the last (re)start. */
  output(): string;
  /** SIGTERM and wait (mosquitto saves its persistence file on a clean stop). */
  stop(): Promise<void>;
  /** SIGKILL and wait (no persistence save beyond the last autosave). */
  kill(): Promise<void>;
  /** Starts again on the same port with the same persistence dir. */
  restart(): Promise<void>;
  /** Stops (if running) and removes the temp dir. */
  cleanup(): Promise<void>;
}

export function requireMosquitto(): string {
  if (!existsSync(MOSQUITTO_BIN)) {
    throw new Error(`mosquitto not found at ${MOSQUITTO_BIN}: install the Debian packages with scripts/setup-system.sh (as root)`);
  }
  return MOSQUITTO_BIN;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts a throwaway Mosquitto 2 on a free port; call cleanup() when done. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const bin = requireMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-mosquitto-'));
  // Mosquitto started as root drops to the `mosquitto` user: it must own its dir.
  if (userInfo().uid === 0) {
    const id = spawnSync('id', ['-u', 'mosquitto'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'mosquitto'], { encoding: 'utf8' });
    if (id.status === 0 && gid.status === 0) chownSync(dir, Number(id.stdout.trim()), Number(gid.stdout.trim()));
  }
  let port = 0;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let out = '';

  const writeConfig = () => {
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      [
        ...(options.preConfig ?? []),
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        `autosave_interval ${options.autosaveInterval ?? 1}`,
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'max_queued_messages 0',
        ...(options.extraConfig ?? []),
        '',
      ].join('\n'),
    );
  };

  const launch = async (): Promise<boolean> => {
    writeConfig();
    out = '';
    const c = spawn(bin, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    exited = new Promise((r) => c.once('exit', () => r()));
    for (let i = 0; i < 2000; i++) {
      if (c.exitCode !== null || c.signalCode !== null) return false;
      if (await canConnect(port)) return true;
      await sleep(10);
    }
    throw new Error(`mosquitto did not accept connections on ${port}:\n${out}`);
  };

  const halt = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(signal);
    await exited;
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    if (await launch()) break;
    if (attempt >= 5) throw new Error(`mosquitto failed to start:\n${out}`);
  }

  return {
    get port() {
      return port;
    },
    get url() {
      return `mqtt://127.0.0.1:${port}`;
    },
    dir,
    output: () => out,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGTERM');
      for (let attempt = 0; attempt < 50; attempt++) {
        if (await launch()) return;
        await sleep(100); // the old socket may linger a moment
      }
      throw new Error(`mosquitto did not restart on ${port}:\n${out}`);
    },
    async cleanup() {
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  } as Mosquitto;
}

export { freePort };
