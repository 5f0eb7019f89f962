import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogUpdate } from '../../contract/sync.ts';
import type { RunningHq } from '../../cloud/hq/hq.ts';
import { FakeBox } from '../../cloud/testing.ts';
import { connectBox, type BoxClient } from './box-client.ts';

// HQ ingest over a real cloud broker, one scenario suite for every broker
// (embedded aedes = MQTT 3.1.1, Mosquitto 2 = MQTT 5 with shared
// subscriptions) and database HQ can run on.

export interface IngestEnv {
  hq: RunningHq;
  protocol: 4 | 5;
  stop(): Promise<void>;
}

let n = 0;
/** Device ids unique per suite run (brokers and databases are per file, but keep tests independent). */
function deviceId(prefix: string): string {
  return `${prefix}-${process.pid}-${++n}`;
}

async function getJson<T>(hq: RunningHq, path: string): Promise<T> {
  const r = await fetch(`${hq.httpUrl}${path}`);
  expect(r.status, `${path}: ${r.status}`).toBe(200);
  return (await r.json()) as T;
}

/** Polls a GET route until `pick` finds something (liveness bound 60 s, not a timing assertion). */
export async function poll<T, R>(hq: RunningHq, path: string, pick: (body: T) => R | undefined): Promise<R> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const found = pick(await getJson<T>(hq, path));
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out polling ${path}`);
    await sleep(25);
  }
}

export function ingestSuite(name: string, setup: () => Promise<IngestEnv>): void {
  describe(`HQ ingest over MQTT: ${name}`, () => {
    let env: IngestEnv;
    const boxes: BoxClient[] = [];
    const connect = async (id: string, storeId = 'store-1') => {
      const b = await connectBox(env.hq.mqttUrl, id, env.protocol, storeId);
      boxes.push(b);
      return b;
    };

    beforeAll(async () => {
      env = await setup();
    }, 180_000);
    afterAll(async () => {
      for (const b of boxes) await b.close().catch(() => {});
      await env?.stop();
    }, 60_000);

    it('applies each event once: acks after commit, duplicates and gaps answered, live lane ahead of the backlog', async () => {
      const id = deviceId('box');
      const fake = new FakeBox({ deviceId: id });
      const box = await connect(id);
      for (let i = 0; i < 40; i++) fake.sale([{ sku: 'MILK-1L', qty: 1 }]);
      expect(await box.send(fake.batch(1, 20))).toMatchObject({ result: 'applied', lastAppliedSeq: 20, appliedAbove: [] });
      // A resend (new batch id, same events) is a duplicate.
      expect(await box.send(fake.batch(1, 20))).toMatchObject({ result: 'duplicate', lastAppliedSeq: 20 });
      // A gap is refused with the expected seq.
      expect(await box.send(fake.batch(25, 30))).toMatchObject({ result: 'gap', lastAppliedSeq: 20, expectedSeq: 21 });
      // A live sale above the watermark is applied at once.
      expect(await box.send(fake.batch(40, 40, 'live'))).toMatchObject({ result: 'applied', lastAppliedSeq: 20, appliedAbove: [40] });
      expect(await box.send(fake.batch(21, 40))).toMatchObject({ result: 'applied', lastAppliedSeq: 40, appliedAbove: [] });
      const { events } = await getJson<{ events: { id: string; seq: number; type: string }[] }>(env.hq, `/api/v1/devices/${id}/events?after=0&limit=1000`);
      expect(events.map((e) => e.seq)).toEqual(fake.events.map((e) => e.seq));
      expect(events.map((e) => e.id)).toEqual(fake.events.map((e) => e.id));
      const devices = await getJson<{ deviceId: string; lastAppliedSeq: number; lastSeenAt: string; openConflicts: number }[]>(env.hq, '/api/v1/devices');
      expect(devices.find((d) => d.deviceId === id)).toMatchObject({ lastAppliedSeq: 40, openConflicts: 0 });
      expect(devices.find((d) => d.deviceId === id)!.lastSeenAt).toEqual(expect.any(String));
    });

    it('rejects malformed batches with a reason and keeps serving', async () => {
      const id = deviceId('bad');
      const fake = new FakeBox({ deviceId: id });
      const box = await connect(id);
      fake.sale([{ sku: 'MILK-1L' }]);
      fake.sale([{ sku: 'MILK-1L' }]);
      const notJson = await box.sendRaw('{not json', undefined);
      expect(notJson).toMatchObject({ result: 'rejected', lastAppliedSeq: 0, reason: 'payload is not JSON' });
      const extra = { ...fake.batch(1, 1), cardNumber: '4111' };
      expect(await box.sendRaw(JSON.stringify(extra), extra.batchId)).toMatchObject({ result: 'rejected', reason: expect.stringMatching(/cardNumber/) });
      const other = fake.batch(1, 1);
      other.deviceId = 'someone-else';
      expect(await box.sendRaw(JSON.stringify(other), other.batchId)).toMatchObject({ result: 'rejected', reason: expect.stringMatching(/does not match the topic/) });
      const badPayload = fake.batch(1, 2);
      (badPayload.events[1]!.payload as { total: unknown }).total = -5;
      expect(await box.sendRaw(JSON.stringify(badPayload), badPayload.batchId)).toMatchObject({ result: 'rejected', reason: expect.stringMatching(/seq 2\) sale payload/) });
      (badPayload.events[1]!.payload as { total: unknown }).total = 100;
      const holes = fake.batchOf([fake.events[0]!, fake.events[1]!].reverse());
      expect(await box.sendRaw(JSON.stringify(holes), holes.batchId)).toMatchObject({ result: 'rejected', reason: expect.stringMatching(/ascending/) });
      // Nothing was applied, and the next good batch is.
      expect(await box.send(fake.batch(1, 2))).toMatchObject({ result: 'applied', lastAppliedSeq: 2 });
    });

    it('flags the later of two last-unit sales from two boxes once, tells the box, and sends the resolution down', async () => {
      const store = `st-${process.pid}-${++n}`;
      const [ida, idb] = [deviceId('pa'), deviceId('pb')];
      const a = await connect(ida, store);
      const b = await connect(idb, store);
      const t = Date.now() - 60_000;
      const fa = new FakeBox({ deviceId: ida, storeId: store, clock: () => t });
      const fb = new FakeBox({ deviceId: idb, storeId: store, clock: () => t + 1000 });
      // Stock of a tracked item (demo catalog: 50) brought to 1 by an adjustment on box a.
      fa.adjust('COFFEE-500', -49);
      fa.sale([{ sku: 'COFFEE-500', qty: 1 }]);
      const saleB = fb.sale([{ sku: 'COFFEE-500', qty: 1 }]);
      // The later sale (box b) arrives first; the earlier one then flags it.
      expect(await b.send(fb.batch(1, 1))).toMatchObject({ result: 'applied', conflicts: [] });
      expect(await a.send(fa.batch(1, 2))).toMatchObject({ result: 'applied', conflicts: [] });
      const update = await b.waitFor(() => b.conflictUpdates.find((u) => u.conflicts.some((c) => c.eventId === saleB.id)), 'conflict notice on box b');
      const notice = update.conflicts[0]!;
      expect(notice).toMatchObject({ kind: 'oversell', status: 'open', deviceId: idb, sku: 'COFFEE-500', compensation: { type: 'backorder', qty: 1 } });
      const { conflicts } = await getJson<{ conflicts: { id: string; storeId: string }[] }>(env.hq, '/api/v1/conflicts?status=open');
      expect(conflicts.filter((c) => c.storeId === store)).toHaveLength(1);
      const { inventory } = await getJson<{ inventory: { storeId: string; sku: string; onHand: number }[] }>(env.hq, `/api/v1/inventory?storeId=${store}`);
      expect(inventory).toEqual([expect.objectContaining({ sku: 'COFFEE-500', onHand: -1 })]);

      const r = await fetch(`${env.hq.httpUrl}/api/v1/conflicts/${notice.id}/resolve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ decision: 'backorder', by: 'ops', note: 'ship from the warehouse' }),
      });
      expect(r.status).toBe(200);
      const resolved = await b.waitFor(() => b.conflictUpdates.find((u) => u.conflicts.some((c) => c.id === notice.id && c.status === 'resolved')), 'resolution on box b');
      expect(resolved.conflicts[0]!.resolution).toMatchObject({ decision: 'backorder', by: 'ops' });
      const again = await fetch(`${env.hq.httpUrl}/api/v1/conflicts/${notice.id}/resolve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ decision: 'accept', by: 'ops' }),
      });
      expect(again.status).toBe(409);
      expect(again.headers.get('content-type')).toMatch(/application\/problem\+json/);
    });

    it('publishes versioned catalog updates: full on first contact, deltas on price changes, full again on resync', async () => {
      const id = deviceId('cat');
      const fake = new FakeBox({ deviceId: id });
      const box = await connect(id);
      fake.sale([{ sku: 'MILK-1L' }]);
      await box.send(fake.batch(1, 1));
      const full = await box.waitFor(() => box.catalogUpdates.find((u) => u.kind === 'full'), 'first-contact catalog');
      expect(full).toMatchObject({ kind: 'full', version: 1 });
      expect((full as Extract<CatalogUpdate, { kind: 'full' }>).catalog.items.length).toBeGreaterThan(0);
      const put = await fetch(`${env.hq.httpUrl}/api/v1/catalog/items/PASTA-500/price`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ price: 139 }),
      });
      expect(put.status).toBe(200);
      expect(((await put.json()) as { published: { deviceId: string; version: number }[] }).published).toContainEqual({ deviceId: id, version: 2, kind: 'delta' });
      const delta = await box.waitFor(() => box.catalogUpdates.find((u) => u.version === 2), 'delta v2');
      expect(delta).toMatchObject({ kind: 'delta', baseVersion: 1, changes: [{ op: 'price', sku: 'PASTA-500', price: 139 }] });
      await box.client.publishAsync(`tillbox/v1/${id}/catalog/resync`, JSON.stringify({ v: 1, deviceId: id, haveVersion: 1, reason: 'gap' }), { qos: 1 });
      const again = await box.waitFor(() => box.catalogUpdates.find((u) => u.version === 3), 'resync full v3');
      expect(again.kind).toBe('full');
      const catalog = await getJson<{ items: { sku: string; price: number }[] }>(env.hq, '/api/v1/catalog');
      expect(catalog.items.find((i) => i.sku === 'PASTA-500')!.price).toBe(139);
    });

    it('sends commands to a box as request/response with a correlation id, 504 when it does not answer', async () => {
      const id = deviceId('cmd');
      const box = await connect(id);
      await box.client.subscribeAsync(`tillbox/v1/${id}/cmd/+`, { qos: 1 });
      box.client.on('message', (topic, payload) => {
        if (!topic.startsWith(`tillbox/v1/${id}/cmd/`) || topic.endsWith('/reply')) return;
        const cmd = JSON.parse(payload.toString()) as { correlation: string; replyTo?: string; args?: Record<string, unknown> };
        const command = topic.split('/').at(-1);
        if (command === 'silent') return;
        void box.client.publishAsync(cmd.replyTo ?? `${topic}/reply`, JSON.stringify({ status: 'ok', data: { command, args: cmd.args ?? null }, correlation: cmd.correlation }), { qos: 1 });
      });
      const post = (command: string, body: unknown) =>
        fetch(`${env.hq.httpUrl}/api/v1/devices/${id}/commands/${command}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const ok = await post('sync.status', { args: { verbose: true } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ status: 'ok', data: { command: 'sync.status', args: { verbose: true } }, correlation: expect.any(String) });
      const silent = await post('silent', { timeoutMs: 300 });
      expect(silent.status).toBe(504);
      expect(await silent.json()).toMatchObject({ code: 'TB_TIMEOUT' });
      expect((await post('bad%2Fname', {})).status).toBe(400);
    });

    it('holds an event older than the review threshold for a human, acks it, and applies it when accepted', async () => {
      const id = deviceId('stale');
      const box = await connect(id);
      const fake = new FakeBox({ deviceId: id, storeId: `stale-store-${n}`, clock: () => Date.now() - 100 * 3600_000 });
      const old = fake.sale([{ sku: 'MILK-1L', qty: 2 }]);
      fake.setClock(Date.now);
      fake.sale([{ sku: 'MILK-1L', qty: 1 }]);
      const ack = await box.send(fake.batch(1, 2));
      expect(ack).toMatchObject({ result: 'applied', lastAppliedSeq: 2 });
      expect(ack.conflicts).toEqual([expect.objectContaining({ kind: 'stale-event', status: 'held', seq: 1, eventId: old.id })]);
      const inv = async () => (await getJson<{ inventory: { delta: number }[] }>(env.hq, `/api/v1/inventory?storeId=${fake.storeId}`)).inventory[0]?.delta;
      expect(await inv()).toBe(-1);
      const r = await fetch(`${env.hq.httpUrl}/api/v1/conflicts/${ack.conflicts[0]!.id}/resolve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ decision: 'accept', by: 'ops' }),
      });
      expect(r.status).toBe(200);
      expect(await inv()).toBe(-3);
      await box.waitFor(() => box.conflictUpdates.find((u) => u.conflicts.some((c) => c.eventId === old.id && c.status === 'resolved')), 'resolution of the held event');
    });

    it('records loss reports from boxes (never silent)', async () => {
      const id = deviceId('loss');
      const box = await connect(id);
      const at = new Date().toISOString();
      const report = { v: 1, deviceId: id, entries: [{ lane: 'telemetry', rule: 'health', dropped: 17, firstDroppedAt: at, lastDroppedAt: at }], at };
      await box.client.publishAsync(`tillbox/v1/${id}/loss`, JSON.stringify(report), { qos: 1 });
      const got = await poll(env.hq, `/api/v1/loss?deviceId=${id}`, (b: { reports: { report: unknown }[] }) => b.reports[0]);
      expect(got.report).toEqual(report);
    });

    it('tracks fleet status (retained online/offline) as last seen', async () => {
      const id = deviceId('fleet');
      const box = await connect(id);
      await box.client.publishAsync(`fleet/${id}/status`, JSON.stringify({ state: 'online', deviceId: id, storeId: 'store-1', at: new Date().toISOString() }), { qos: 1, retain: true });
      type Device = { deviceId: string; online: boolean | null; lastSeenAt: string | null };
      const seen = await poll(env.hq, '/api/v1/devices', (ds: Device[]) => ds.find((d) => d.deviceId === id && d.online === true));
      expect(seen.lastSeenAt).toEqual(expect.any(String));
      // The last will marks it offline when the box vanishes without a goodbye.
      box.client.stream.destroy();
      await poll(env.hq, '/api/v1/devices', (ds: Device[]) => ds.find((d) => d.deviceId === id && d.online === false));
      // Clear the retained status so later runs on this broker start clean.
      const cleaner = await connectBox(env.hq.mqttUrl, `${id}-cleaner`, env.protocol);
      await cleaner.client.publishAsync(`fleet/${id}/status`, '', { qos: 1, retain: true });
      await cleaner.close();
    });

    it('ignores a late death of an older session (bdSeq) but takes the death of the current one', async () => {
      const id = deviceId('bdseq');
      const box = await connect(id);
      const status = (state: 'online' | 'offline', bdSeq: number) => JSON.stringify({ state, deviceId: id, storeId: 'store-1', at: new Date().toISOString(), bdSeq });
      type Device = { deviceId: string; online: boolean | null };
      await box.client.publishAsync(`fleet/${id}/status`, status('online', 7), { qos: 1 });
      await poll(env.hq, '/api/v1/devices', (ds: Device[]) => ds.find((d) => d.deviceId === id && d.online === true));
      // The will of session 6 arrives after the birth of session 7 (a broker that noticed the old connection late).
      await box.client.publishAsync(`fleet/${id}/status`, status('offline', 6), { qos: 1 });
      // HQ handles control messages concurrently: the ledger compares bdSeq, so the arrival order does not matter.
      await sleep(500);
      const devices = await getJson<Device[]>(env.hq, '/api/v1/devices');
      expect(devices.find((d) => d.deviceId === id)?.online).toBe(true);
      await box.client.publishAsync(`fleet/${id}/status`, status('offline', 7), { qos: 1 });
      await poll(env.hq, '/api/v1/devices', (ds: Device[]) => ds.find((d) => d.deviceId === id && d.online === false));
      await box.close();
    });
  });
}
