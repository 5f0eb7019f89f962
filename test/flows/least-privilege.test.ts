import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { postSale } from '../../harness/box.ts';
import { roleClient, startCore, until, SALE, type CoreBox } from './support.ts';

// The flows role on a real core's broker, with the credentials the box
// generated: it can send device commands and publish its own and the cloud
// lane's topics, and it can never forge a POS event.

let core: CoreBox;
let watcher: MqttClient;
const seen: Array<{ topic: string; payload: string }> = [];

beforeAll(async () => {
  core = await startCore();
  watcher = await roleClient(core, 'admin');
  watcher.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
  await watcher.subscribeAsync('#', { qos: 1 });
}, 60_000);

afterAll(async () => {
  await watcher?.endAsync();
  await core?.stop();
});

describe('flows role on the broker', () => {
  it('cannot publish a sale: the broker drops the connection and no subscriber ever sees it', async () => {
    const flows = await roleClient(core, 'flows');
    const marker = `forged-${randomUUID()}`;
    const closed = new Promise<void>((r) => flows.once('close', () => r()));
    const forged = flows.publishAsync(`store/${core.storeId}/pos/sale`, JSON.stringify({ id: marker, type: 'sale', payload: { total: 1 } }), { qos: 1 });
    await closed; // MQTT 3.1.1 has no negative PUBACK: the broker closes the connection
    forged.catch(() => {}); // never PUBACKed; dropped with the connection
    flows.end(true);

    // A real sale made after the forgery reaches the subscriber; the forgery never did.
    const r = await postSale(core.httpPort, `lp-${Date.now()}`, SALE([{ sku: 'MILK-1L', qty: 1 }]));
    expect(r.status).toBe(201);
    const { id } = r.json<{ id: string }>();
    await until(() => seen.find((s) => s.topic === `store/${core.storeId}/pos/sale` && s.payload.includes(id)), 'the real sale');
    expect(seen.filter((s) => s.payload.includes(marker))).toEqual([]);
    const sales = seen.filter((s) => s.topic === `store/${core.storeId}/pos/sale`).map((s) => JSON.parse(s.payload).id);
    expect(sales).toEqual([id]);
  }, 30_000);

  it("also cannot publish other POS events, another store's topics, or fleet topics", async () => {
    for (const topic of [`store/${core.storeId}/pos/refund`, `store/${core.storeId}/pos/inventory.adjusted`, 'store/other-store/flows/x', 'fleet/box/status']) {
      const flows = await roleClient(core, 'flows');
      const closed = new Promise<void>((r) => flows.once('close', () => r()));
      flows.publish(topic, JSON.stringify({ marker: topic }), { qos: 1 });
      await closed;
      flows.end(true);
    }
    const check = await roleClient(core, 'flows');
    const ok = `store/${core.storeId}/flows/after-denials`;
    await check.publishAsync(ok, '1', { qos: 1 });
    await until(() => seen.find((s) => s.topic === ok), 'the allowed message');
    await check.endAsync();
    expect(seen.filter((s) => s.payload.includes('"marker"'))).toEqual([]);
  }, 30_000);

  it('can send device commands and publish store/S/flows/# and store/S/cloud/#', async () => {
    const flows = await roleClient(core, 'flows');
    const topics = [
      `store/${core.storeId}/devices/kitchen/cmd/print`,
      `store/${core.storeId}/devices/drawer-1/cmd/open`,
      `store/${core.storeId}/flows/alerts/refund`,
      `store/${core.storeId}/cloud/alerts/low-stock`,
    ];
    for (const t of topics) await flows.publishAsync(t, JSON.stringify({ correlation: 'c1', args: {} }), { qos: 1 });
    expect(flows.connected).toBe(true);
    await flows.endAsync();
    await until(() => topics.every((t) => seen.some((s) => s.topic === t)) || undefined, 'allowed topics');
  }, 30_000);
});
