import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { Core } from '../../appliance/core/core.ts';
import { loadConfig } from '../../appliance/config/index.ts';
import { silentLogger } from '../../appliance/log.ts';
import { statePaths } from '../../appliance/state/state-dir.ts';
import { postSale } from '../../harness/box.ts';

// Core in-process on real sockets: a committed sale reaches MQTT subscribers
// on store/{storeId}/pos/sale, and a restart republishes what was committed
// but never published.

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function demoConfig() {
  return loadConfig({ env: { TILLBOX_HTTP_PORT: '0', TILLBOX_MQTT_PORT: '0', TILLBOX_MQTT_WS_PORT: '0' }, overrides: { demo: true } });
}

async function startCore(stateDir: string): Promise<Core> {
  const core = new Core({ config: demoConfig(), stateDir, log: silentLogger() });
  await core.start();
  return core;
}

async function subscriber(core: Core, clientId: string, clean = true): Promise<{ client: MqttClient; events: Array<{ topic: string; seq: number; id: string }> }> {
  const client = await connectAsync(`mqtt://127.0.0.1:${core.runtime!.mqtt.tcp!.port}`, { clientId: `anonymous-${clientId}`, clean, reconnectPeriod: 0 });
  const events: Array<{ topic: string; seq: number; id: string }> = [];
  client.on('message', (topic, payload) => {
    const e = JSON.parse(payload.toString()) as { seq: number; id: string };
    events.push({ topic, seq: e.seq, id: e.id });
  });
  await client.subscribeAsync('store/demo-store/pos/#', { qos: 1 });
  return { client, events };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

const SALE = { lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 119 }] };

describe('POS events on the local broker', () => {
  it('publishes each committed sale on store/{storeId}/pos/sale with its journal id and seq', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-core-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const core = await startCore(dir);
    cleanups.push(() => core.stop());
    const sub = await subscriber(core, 'a');
    cleanups.push(() => sub.client.endAsync());

    const sales = [];
    for (let i = 0; i < 5; i++) sales.push((await postSale(core.runtime!.http.port, `k${i}`, SALE)).json<{ id: string; seq: number }>());
    await until(() => sub.events.length === 5, '5 events');
    expect(sub.events).toEqual(sales.map((s) => ({ topic: 'store/demo-store/pos/sale', seq: s.seq, id: s.id })));
  });

  it('republishes after a restart the events that were committed but not yet published', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-core-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    let core = await startCore(dir);
    // A persistent session (clean=false) that stays registered while offline.
    let sub = await subscriber(core, 'b', false);
    for (let i = 0; i < 3; i++) expect((await postSale(core.runtime!.http.port, `k${i}`, SALE)).status).toBe(201);
    await until(() => sub.events.length === 3, 'the first three events');
    await sub.client.endAsync();
    await core.stop();
    // As if the box had died after these commits but before publishing them.
    rmSync(statePaths(dir).publishCursor, { force: true });

    core = await startCore(dir);
    cleanups.push(() => core.stop());
    sub = await subscriber(core, 'b', false);
    cleanups.push(() => sub.client.endAsync());
    await until(() => sub.events.length === 3, 'the replayed events');
    expect(sub.events.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('does not republish events that were published before a clean stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-core-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    let core = await startCore(dir);
    let sub = await subscriber(core, 'c', false);
    for (let i = 0; i < 3; i++) expect((await postSale(core.runtime!.http.port, `k${i}`, SALE)).status).toBe(201);
    await until(() => sub.events.length === 3, 'the first three events');
    await sub.client.endAsync();
    await core.stop();

    core = await startCore(dir);
    cleanups.push(() => core.stop());
    sub = await subscriber(core, 'c', false);
    cleanups.push(() => sub.client.endAsync());
    expect((await postSale(core.runtime!.http.port, 'k3', SALE)).status).toBe(201);
    await until(() => sub.events.length >= 1, 'the new sale');
    expect(sub.events.map((e) => e.seq)).toEqual([4]);
  });
});
