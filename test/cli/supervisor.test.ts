import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../../appliance/core/runtime.ts';

const ROOT = resolve(import.meta.dirname, '../..');

function runtimePid(dir: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'runtime.json'), 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

async function until<T>(fn: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('tillbox start', () => {
  it('restarts the core process alone after SIGKILL and stops every child on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-sup-'));
    const sup = spawn(process.execPath, [join(ROOT, 'appliance/cli/main.ts'), 'start', '--demo'], {
      env: { ...process.env, TILLBOX_STATE_DIR: dir, TILLBOX_HTTP_PORT: '0', TILLBOX_MQTT_PORT: '0', TILLBOX_MQTT_WS_PORT: '0', TILLBOX_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    sup.stdout.on('data', (d: Buffer) => (out += d));
    sup.stderr.on('data', (d: Buffer) => (out += d));
    try {
      const first = await until(() => runtimePid(dir), 'core to start');
      process.kill(first, 'SIGKILL');
      const second = await until(() => {
        const p = runtimePid(dir);
        return p !== undefined && p !== first && isAlive(p) ? p : undefined;
      }, 'core to be restarted');
      expect(second).not.toBe(first);
      expect(isAlive(sup.pid!)).toBe(true);
      expect(out).toContain('child died; restarting');

      sup.kill('SIGTERM');
      await until(() => sup.exitCode !== null || undefined, 'supervisor to exit');
      expect(sup.exitCode).toBe(0);
      await until(() => !isAlive(second) || undefined, 'core to exit with the supervisor');
    } finally {
      if (sup.exitCode === null) sup.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('does not restart a process that refuses its configuration, and exits 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-sup-'));
    const sup = spawn(process.execPath, [join(ROOT, 'appliance/cli/main.ts'), 'start'], {
      env: { ...process.env, TILLBOX_STATE_DIR: dir, TILLBOX_HTTP_PORT: '0', TILLBOX_MQTT_PORT: '0', TILLBOX_MQTT_WS_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    sup.stderr.on('data', (d: Buffer) => (err += d));
    const code = await new Promise<number | null>((r) => sup.once('exit', r));
    expect(code).toBe(2);
    expect(err).toContain('store.id: is required');
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);
});
