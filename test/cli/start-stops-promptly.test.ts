import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { postSale } from '../../harness/box.ts';

// Issue 8: after one receipt had printed, `tillbox start` did not stop on
// SIGTERM (the devices process waited for a PUBACK from a broker that core had
// already closed; the supervisor waited for it forever, 4 of 4 tries).

const ROOT = resolve(import.meta.dirname, '../..');

function descendants(pid: number): number[] {
  try {
    const out = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
    const kids = out.split('\n').filter(Boolean).map(Number);
    return kids.flatMap((k) => [k, ...descendants(k)]);
  } catch {
    return [];
  }
}

describe('tillbox start --demo', () => {
  it('stops with every child within 5 s of SIGTERM after a sale printed its receipt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-stop-'));
    const sup = spawn(process.execPath, [join(ROOT, 'appliance/cli/main.ts'), 'start', '--demo'], {
      env: { ...process.env, TILLBOX_STATE_DIR: dir, TILLBOX_HTTP_PORT: '0', TILLBOX_MQTT_PORT: '0', TILLBOX_MQTT_WS_PORT: '0', TILLBOX_FLOWS_PORT: '0', TILLBOX_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    sup.stdout.on('data', (d: Buffer) => (out += d));
    sup.stderr.on('data', (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((r) => sup.once('exit', (code) => r(code)));
    try {
      const t0 = Date.now();
      while (!/tillbox devices ready/.test(out) || !/HTTP API\s+http:\/\/[^:]+:\d+/.test(out)) {
        if (Date.now() - t0 > 60_000) throw new Error(`box did not start:\n${out}`);
        await sleep(50);
      }
      const port = Number(/HTTP API\s+http:\/\/[^:]+:(\d+)/.exec(out)![1]);
      const sale = await postSale(port, 'stop-1', { lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 500 }] });
      expect(sale.status).toBe(201);
      while (!/receipt #/.test(out)) {
        if (Date.now() - t0 > 60_000) throw new Error(`no receipt printed:\n${out}`);
        await sleep(50);
      }
      const children = descendants(sup.pid!);
      expect(children.length).toBeGreaterThanOrEqual(3);
      const stopAt = Date.now();
      sup.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(10_000).then(() => 'still running')]);
      const tookMs = Date.now() - stopAt;
      expect(code, out.slice(-2000)).toBe(0);
      expect(tookMs).toBeLessThan(5000);
      for (const pid of children) expect(() => process.kill(pid, 0), `child ${pid} left running`).toThrow();
      expect(out).not.toMatch(/did not stop in time/);
    } finally {
      if (sup.exitCode === null) sup.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
