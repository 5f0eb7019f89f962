import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectAsync } from 'mqtt';
import { Core } from '../../appliance/core/core.ts';
import { loadConfig } from '../../appliance/config/index.ts';
import { silentLogger } from '../../appliance/log.ts';
import { readSecrets } from '../../appliance/secrets/secrets.ts';
import { statePaths } from '../../appliance/state/state-dir.ts';
import { call } from '../../harness/box.ts';

// Core wiring: the weights a scale publishes (as the devices process does,
// with the devices account) reach the POS, so a cart line { sku, scale }
// takes the latest stable weight and refuses one in motion.

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a scale heard by core', () => {
  it('prices a weighed cart line from its latest stable reading and refuses a reading in motion', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-scale-line-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = loadConfig({ env: { TILLBOX_HTTP_PORT: '0', TILLBOX_MQTT_PORT: '0', TILLBOX_MQTT_WS_PORT: '0' }, overrides: { demo: true } });
    const core = new Core({ config, stateDir: dir, log: silentLogger() });
    cleanups.push(() => core.stop());
    await core.start();
    const rt = core.runtime!;
    const devices = readSecrets(statePaths(dir).secrets).mqtt.find((a) => a.role === 'devices')!;
    const client = await connectAsync(`mqtt://127.0.0.1:${rt.mqtt.tcp!.port}`, { clientId: 'devices-test', username: devices.username, password: devices.password, reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync());
    const base = `store/${rt.storeId}/devices/scale-1`;
    await client.publishAsync(`${base}/state`, JSON.stringify({ id: 'scale-1', kind: 'scale', state: 'online', uri: 'serial:///dev/pts/9', since: new Date().toISOString() }), {
      qos: 1,
      retain: true,
    });
    const reading = (grams: number, stable: boolean) => JSON.stringify({ value: (grams / 1000).toFixed(3), unit: 'kg', grams, stable, status: stable ? 'stable' : 'unstable', protocol: 'sics' });
    await client.publishAsync(`${base}/weight`, reading(1234, true), { qos: 1 });

    const port = rt.http.port;
    const cart = (await call(port, 'POST', '/api/v1/carts', {})).json<{ id: string }>();
    let line: Awaited<ReturnType<typeof call>> | undefined;
    await until(async () => {
      line = await call(port, 'POST', `/api/v1/carts/${cart.id}/lines`, { sku: 'BANANA', scale: 'scale-1' });
      return line.status === 200;
    }, 'core to hear the stable reading');
    const lines = line!.json<{ lines: Array<{ sku: string; weightGrams?: number }> }>().lines;
    expect(lines.at(-1)).toMatchObject({ sku: 'BANANA', weightGrams: 1234 });

    await client.publishAsync(`${base}/weight`, reading(1300, false), { qos: 1 });
    await until(async () => (await call(port, 'POST', `/api/v1/carts/${cart.id}/lines`, { sku: 'BANANA', scale: 'scale-1' })).status === 409, 'the reading in motion to be refused');
  });
});
