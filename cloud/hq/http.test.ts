import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CatalogStore } from '../catalog/store.ts';
import { Ledger } from '../ledger/ledger.ts';
import { PgliteDb } from '../ledger/pglite-db.ts';
import { migrate } from '../ledger/schema.ts';
import { smallCatalog } from '../ledger/ledger.suite.ts';
import { silentLogger } from '../log.ts';
import { FakeBox, MANAGER } from '../testing.ts';
import { HqControl } from './control.ts';
import { createHqHttp } from './http.ts';

// HQ's HTTP API through fastify.inject on PGlite. The control client is not
// started (no broker): catalog changes and resolutions still go through it,
// its publishing is a no-op here (MQTT delivery is covered in test/cloud).

describe('HQ HTTP API', () => {
  let db: PgliteDb;
  let ledger: Ledger;
  let catalog: CatalogStore;
  let control: HqControl;
  let app: FastifyInstance;

  beforeAll(async () => {
    db = new PgliteDb();
    await db.exec('SELECT 1');
  }, 120_000);
  afterAll(async () => {
    await db.close();
  });
  beforeEach(async () => {
    await db.exec('DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP TABLE IF EXISTS hq_schema;');
    await migrate(db);
    const log = silentLogger();
    ledger = new Ledger({ db, log });
    catalog = new CatalogStore({ db });
    await catalog.seed(smallCatalog());
    control = new HqControl({ ledger, catalog, log, url: 'mqtt://127.0.0.1:1', protocolVersion: 5 });
    app = createHqHttp({ ledger, catalog, control, log });
  });

  const json = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method,
      url,
      ...(body === undefined ? {} : { payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }),
      ...(body === undefined ? { headers } : {}),
    });

  it('answers /healthz, and unknown routes and bad JSON as problem+json', async () => {
    expect((await json('GET', '/healthz')).json()).toEqual({ status: 'ok' });
    const nf = await json('GET', '/api/v1/nope');
    expect(nf.statusCode).toBe(404);
    expect(nf.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(nf.json()).toMatchObject({ type: 'urn:tillbox:problem:not-found', status: 404, code: 'TB_NOT_FOUND' });
    const bad = await app.inject({ method: 'POST', url: '/api/v1/conflicts/x/resolve', payload: '{oops', headers: { 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'TB_HTTP_MALFORMED_JSON' });
  });

  it('lists devices and pages their events', async () => {
    const box = new FakeBox({ deviceId: 'box-h' });
    for (let i = 0; i < 25; i++) box.sale([{ sku: 'MILK' }]);
    await ledger.applyBatch(box.batch(1, 25));
    const devices = (await json('GET', '/api/v1/devices')).json();
    expect(devices).toEqual([expect.objectContaining({ deviceId: 'box-h', lastAppliedSeq: 25, openConflicts: 0, lastSeenAt: expect.any(String) })]);
    const page = (await json('GET', '/api/v1/devices/box-h/events?after=10&limit=5')).json() as { events: { seq: number; id: string; type: string }[] };
    expect(page.events.map((e) => e.seq)).toEqual([11, 12, 13, 14, 15]);
    expect(page.events[0]).toMatchObject({ id: box.events[10]!.id, type: 'sale' });
    const badLimit = await json('GET', '/api/v1/devices/box-h/events?limit=abc');
    expect(badLimit.statusCode).toBe(400);
    expect(badLimit.json()).toMatchObject({ code: 'TB_VALIDATION' });
    expect((await json('GET', '/api/v1/devices/box-h/events?limit=0')).statusCode).toBe(400);
  });

  it('lists conflicts by status and resolves them with validation', async () => {
    const box = new FakeBox({ deviceId: 'box-h' });
    box.priceOverride('MILK', 50, MANAGER);
    await ledger.applyBatch(box.batch(1, 1));
    const open = (await json('GET', '/api/v1/conflicts?status=open')).json() as { conflicts: { id: string; kind: string }[] };
    expect(open.conflicts).toEqual([expect.objectContaining({ kind: 'unauthorized-price-override' })]);
    expect((await json('GET', '/api/v1/conflicts?status=bogus')).statusCode).toBe(400);
    const id = open.conflicts[0]!.id;
    expect((await json('GET', `/api/v1/conflicts/${id}`)).json()).toMatchObject({ id, status: 'open' });
    const invalid = await json('POST', `/api/v1/conflicts/${id}/resolve`, { decision: 'accept' });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json()).toMatchObject({ code: 'TB_VALIDATION', detail: expect.stringMatching(/by/) });
    const ok = await json('POST', `/api/v1/conflicts/${id}/resolve`, { decision: 'accept', by: 'finance-1', note: 'ok this once' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ conflict: { id, status: 'resolved', resolution: { decision: 'accept', by: 'finance-1', note: 'ok this once' } } });
    expect((await json('GET', '/api/v1/conflicts?status=open')).json()).toEqual({ conflicts: [] });
    expect((await json('POST', '/api/v1/conflicts/nope/resolve', { decision: 'accept', by: 'x' })).statusCode).toBe(404);
  });

  it('manages the catalog and price authorizations', async () => {
    const item = { sku: 'TEA', name: 'Tea', barcodes: [], price: 300, taxClass: 'reduced', trackStock: true, soldByWeight: false, unit: 'ea', stock: 10 };
    expect((await json('PUT', '/api/v1/catalog/items/OTHER', item)).statusCode).toBe(400);
    expect((await json('PUT', '/api/v1/catalog/items/TEA', { ...item, taxClass: 'luxury' })).statusCode).toBe(400);
    const put = await json('PUT', '/api/v1/catalog/items/TEA', item);
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ item: { sku: 'TEA' }, published: [] });
    expect((await json('PUT', '/api/v1/catalog/items/TEA/price', { price: 320 })).statusCode).toBe(200);
    expect((await json('PUT', '/api/v1/catalog/items/NOPE/price', { price: 1 })).statusCode).toBe(404);
    expect((await json('PUT', '/api/v1/catalog/items/TEA/price', { price: -1 })).statusCode).toBe(400);
    const cat = (await json('GET', '/api/v1/catalog')).json() as { items: { sku: string; price: number }[] };
    expect(cat.items.find((i) => i.sku === 'TEA')!.price).toBe(320);
    expect((await json('DELETE', '/api/v1/catalog/items/TEA')).statusCode).toBe(200);
    expect((await json('DELETE', '/api/v1/catalog/items/TEA')).statusCode).toBe(404);

    const auth = await json('POST', '/api/v1/price-authorizations', { storeId: 'store-1', sku: 'MILK', minPrice: 40, maxPrice: 60 });
    expect(auth.statusCode).toBe(201);
    expect((await json('POST', '/api/v1/price-authorizations', { storeId: 'store/1', sku: 'MILK' })).statusCode).toBe(400);
    const box = new FakeBox({ deviceId: 'box-h' });
    box.priceOverride('MILK', 50, MANAGER);
    expect((await ledger.applyBatch(box.batch(1, 1))).conflicts).toEqual([]);
    expect(((await json('GET', '/api/v1/price-authorizations')).json() as { authorizations: unknown[] }).authorizations).toHaveLength(1);
  });

  it('reports inventory and sales per store', async () => {
    const box = new FakeBox({ deviceId: 'box-h' });
    const s = box.sale([{ sku: 'MILK', qty: 2 }]);
    box.refund(s, [{ line: 0, qty: 1 }]);
    await ledger.applyBatch(box.batch(1, 2));
    expect((await json('GET', '/api/v1/inventory?storeId=store-1')).json()).toEqual({
      inventory: [{ storeId: 'store-1', sku: 'MILK', delta: -1, tracked: true, initial: 50, onHand: 49 }],
    });
    expect((await json('GET', '/api/v1/sales?storeId=store-1')).json()).toMatchObject({ summary: [{ sales: 1, refunds: 1, net: 100 }] });
  });

  it('requires the bearer token on /api/ when one is configured', async () => {
    const guarded = createHqHttp({ ledger, catalog, control, log: silentLogger(), apiToken: 's3cret-token' });
    expect((await guarded.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const denied = await guarded.inject({ method: 'GET', url: '/api/v1/devices' });
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['content-type']).toMatch(/problem\+json/);
    expect((await guarded.inject({ method: 'GET', url: '/api/v1/devices', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    expect((await guarded.inject({ method: 'GET', url: '/api/v1/devices', headers: { authorization: 'Bearer s3cret-token' } })).statusCode).toBe(200);
    // Percent-encoded and query variants reach the same routes, so they need the token too.
    for (const url of ['/%61pi/v1/devices', '/fleet?storeId=x', '/%66leet', '/metrics?x=1', '/%6detrics']) {
      expect((await guarded.inject({ method: 'GET', url })).statusCode, url).toBe(401);
    }
  });
});
