import { registerHealthRoutes } from '../health/routes.ts';
import { registerStatusPage } from '../health/status-page.ts';
import { describe, expect, it } from 'vitest';
import { type ApiHarness, apiPerTest, bearer, MANAGER_TOKEN, TILL_TOKEN, TILL2_TOKEN } from './testing.ts';

const api = apiPerTest();

const till = bearer(TILL_TOKEN);
const saleBody = {
  lines: [
    { sku: 'MILK-1L', qty: 2 },
    { sku: 'TOMATO', weightGrams: 750 },
  ],
  tenders: [{ type: 'cash', amount: 1000 }],
};

function post(h: ApiHarness, url: string, body: unknown, key: string | undefined, headers: Record<string, string> = till) {
  return h.app.inject({ method: 'POST', url, payload: body as object, headers: { ...headers, ...(key ? { 'idempotency-key': key } : {}) } });
}

type Res = Awaited<ReturnType<typeof post>>;

function expectProblem(res: { statusCode: number; headers: Record<string, unknown>; json: () => any }, status: number, code?: string) {
  expect(res.statusCode).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, type: expect.stringMatching(/^urn:tillbox:problem:/), title: expect.any(String), detail: expect.any(String) });
  if (code) expect(body.code).toBe(code);
  return body;
}

describe('HTTP API: sales', () => {
  it('sells with 201, then answers GET /api/v1/sales/{id}', async () => {
    const h = await api();
    const res = await post(h, '/api/v1/sales', saleBody, 'k1');
    expect(res.statusCode).toBe(201);
    const sale = res.json();
    // 2 x 1.19 + 0.75 kg x 3.49 = 2.38 + 2.6175 -> 2.62
    expect(sale).toMatchObject({ seq: 1, total: 500, currency: 'EUR', change: 500, by: { name: 'till-1', role: 'till' } });
    expect(res.headers.location).toBe(`/api/v1/sales/${sale.id}`);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
    const got = await h.app.inject({ method: 'GET', url: `/api/v1/sales/${sale.id}`, headers: till });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ id: sale.id, total: 500, state: { voided: false } });
    expectProblem(await h.app.inject({ method: 'GET', url: '/api/v1/sales/0190a5e4-0000-7000-8000-000000000000', headers: till }), 404, 'TB_NOT_FOUND');
  });

  it('answers a retry with the same key and body with the original sale; the journal holds one event', async () => {
    const h = await api();
    const first = (await post(h, '/api/v1/sales', saleBody, 'k1')).json();
    const retry = await post(h, '/api/v1/sales', saleBody, 'k1');
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json().id).toBe(first.id);
    expect(h.journal.lastSeq).toBe(1);
    const journal = await h.app.inject({ method: 'GET', url: '/api/v1/journal?after=0', headers: till });
    expect(journal.json().events).toHaveLength(1);
  });

  it('refuses the same key with a different body with 422 and writes nothing', async () => {
    const h = await api();
    await post(h, '/api/v1/sales', saleBody, 'k1');
    const res = await post(h, '/api/v1/sales', { ...saleBody, tenders: [{ type: 'cash', amount: 2000 }] }, 'k1');
    expectProblem(res, 422, 'TB_IDEMPOTENCY_CONFLICT');
    expect(h.journal.lastSeq).toBe(1);
  });
});

describe('HTTP API: bad input is a clear 4xx problem and the journal is unchanged', () => {
  const json = { 'content-type': 'application/json' };
  const cases: Array<{ name: string; status: number; code: string; path?: string; req: (h: ApiHarness) => Promise<Res> }> = [
    {
      name: 'malformed JSON',
      status: 400,
      code: 'TB_HTTP_MALFORMED_JSON',
      req: (h) => h.app.inject({ method: 'POST', url: '/api/v1/sales', payload: '{"lines": [', headers: { ...till, ...json, 'idempotency-key': 'b' } }),
    },
    {
      name: 'wrong content type',
      status: 415,
      code: 'TB_HTTP_UNSUPPORTED_MEDIA_TYPE',
      req: (h) => h.app.inject({ method: 'POST', url: '/api/v1/sales', payload: 'lines=1', headers: { ...till, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': 'b' } }),
    },
    {
      name: 'text/plain body',
      status: 415,
      code: 'TB_HTTP_UNSUPPORTED_MEDIA_TYPE',
      req: (h) => h.app.inject({ method: 'POST', url: '/api/v1/sales', payload: JSON.stringify(saleBody), headers: { ...till, 'content-type': 'text/plain', 'idempotency-key': 'b' } }),
    },
    {
      name: 'a body over the limit',
      status: 413,
      code: 'TB_HTTP_BODY_TOO_LARGE',
      req: (h) => post(h, '/api/v1/sales', { lines: Array.from({ length: 5000 }, () => ({ sku: 'MILK-1L', qty: 1 })), tenders: [{ type: 'cash', amount: 1 }] }, 'b'),
    },
    { name: 'missing Idempotency-Key', status: 400, code: 'TB_VALIDATION', path: 'headers.idempotency-key', req: (h) => post(h, '/api/v1/sales', saleBody, undefined) },
    { name: 'negative qty', status: 400, code: 'TB_VALIDATION', path: 'lines.0.qty', req: (h) => post(h, '/api/v1/sales', { ...saleBody, lines: [{ sku: 'MILK-1L', qty: -2 }] }, 'b') },
    { name: 'fractional qty', status: 400, code: 'TB_VALIDATION', path: 'lines.0.qty', req: (h) => post(h, '/api/v1/sales', { ...saleBody, lines: [{ sku: 'MILK-1L', qty: 1.5 }] }, 'b') },
    { name: 'qty as a string', status: 400, code: 'TB_VALIDATION', path: 'lines.0.qty', req: (h) => post(h, '/api/v1/sales', { ...saleBody, lines: [{ sku: 'MILK-1L', qty: '2' }] }, 'b') },
    { name: 'qty on a weighed item', status: 400, code: 'TB_VALIDATION', path: 'lines.0.qty', req: (h) => post(h, '/api/v1/sales', { ...saleBody, lines: [{ sku: 'TOMATO', qty: 2 }] }, 'b') },
    { name: 'an unknown field', status: 400, code: 'TB_VALIDATION', path: 'discount', req: (h) => post(h, '/api/v1/sales', { ...saleBody, discount: 50 }, 'b') },
    {
      name: 'a card number in a tender',
      status: 400,
      code: 'TB_VALIDATION',
      path: 'tenders.0.pan',
      req: (h) => post(h, '/api/v1/sales', { ...saleBody, tenders: [{ type: 'card', amount: 500, approvalRef: 'A1', pan: '4111111111111111' }] }, 'b'),
    },
    { name: 'a float amount', status: 400, code: 'TB_VALIDATION', path: 'tenders.0.amount', req: (h) => post(h, '/api/v1/sales', { ...saleBody, tenders: [{ type: 'cash', amount: 10.5 }] }, 'b') },
    { name: 'an unknown sku', status: 422, code: 'TB_UNKNOWN_SKU', path: 'lines.0.sku', req: (h) => post(h, '/api/v1/sales', { ...saleBody, lines: [{ sku: 'CAVIAR', qty: 1 }] }, 'b') },
    { name: 'tenders short of the total', status: 422, code: 'TB_TENDER_MISMATCH', req: (h) => post(h, '/api/v1/sales', { ...saleBody, tenders: [{ type: 'cash', amount: 499 }] }, 'b') },
    {
      name: 'a refund of an unknown sale',
      status: 404,
      code: 'TB_NOT_FOUND',
      req: (h) => post(h, '/api/v1/refunds', { saleId: '0190a5e4-0000-7000-8000-000000000000', lines: [{ line: 0, qty: 1 }], tenders: [{ type: 'cash', amount: 1 }], reason: 'x' }, 'b'),
    },
    { name: 'a bad journal query', status: 400, code: 'TB_VALIDATION', path: 'query.after', req: (h) => h.app.inject({ method: 'GET', url: '/api/v1/journal?after=-1', headers: till }) },
    { name: 'an unknown route', status: 404, code: 'TB_NOT_FOUND', req: (h) => h.app.inject({ method: 'GET', url: '/api/v1/nothing', headers: till }) },
  ];

  for (const c of cases) {
    it(`answers ${c.name} with ${c.status} ${c.code}`, async () => {
      const h = await api({ bodyLimit: 16 * 1024 });
      await post(h, '/api/v1/sales', saleBody, 'seed');
      const before = h.journal.lastSeq;
      const body = expectProblem(await c.req(h), c.status, c.code);
      if (c.path !== undefined) expect(body.errors.map((e: { path: string }) => e.path)).toContain(c.path);
      expect(h.journal.lastSeq).toBe(before);
    });
  }

  it('scopes Idempotency-Key to the till: the same key and basket from another till is a second sale, a retry from the same till replays', async () => {
    const h = await api();
    const first = await post(h, '/api/v1/sales', saleBody, 'shared-key');
    const other = await post(h, '/api/v1/sales', saleBody, 'shared-key', bearer(TILL2_TOKEN));
    expect(first.statusCode).toBe(201);
    expect(other.statusCode).toBe(201);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(other.json().id).not.toBe(first.json().id);
    const retry = await post(h, '/api/v1/sales', saleBody, 'shared-key');
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json().id).toBe(first.json().id);
    expect(h.journal.lastSeq).toBe(2);
  });

  it('caps the journal page at 1000 and pages with after', async () => {
    const h = await api();
    for (let i = 0; i < 3; i++) await post(h, '/api/v1/sales', saleBody, `k${i}`);
    const page = (await h.app.inject({ method: 'GET', url: '/api/v1/journal?after=1&limit=5000', headers: till })).json();
    expect(page.events.map((e: { seq: number }) => e.seq)).toEqual([2, 3]);
    expect(page.events[0]).toMatchObject({ type: 'sale', idempotencyKey: 'till-1/k1', hlc: expect.any(String), id: expect.any(String), payload: { total: 500 } });
    expect(page.lastSeq).toBe(3);
    const one = (await h.app.inject({ method: 'GET', url: '/api/v1/journal?limit=1', headers: till })).json();
    expect(one.events).toHaveLength(1);
  });
});

describe('HTTP API: auth', () => {
  it('refuses percent-encoded and query-string variants of protected paths too (decided by the matched route)', async () => {
    const h = await api({ loopbackOpen: true });
    registerHealthRoutes(h.app, async () => ({}) as never);
    registerStatusPage(h.app, async () => ({}) as never);
    const remote = { remoteAddress: '192.168.1.20' };
    for (const url of ['/%61pi/v1/catalog', '/api/v1/%63atalog', '/%73tatus', '/status?x=1', '/%73tatus/events', '/metrics?x=1', '/%6detrics']) {
      expectProblem(await h.app.inject({ method: 'GET', url, ...remote }), 401, 'TB_UNAUTHORIZED');
    }
    expectProblem(await h.app.inject({ method: 'POST', url: '/%61pi/v1/carts', payload: {}, ...remote }), 401, 'TB_UNAUTHORIZED');
  });

  it('refuses requests without a token or with a wrong one with 401 (not from loopback)', async () => {
    const h = await api({ loopbackOpen: true });
    const remote = { remoteAddress: '192.168.1.20' };
    const none = await h.app.inject({ method: 'GET', url: '/api/v1/catalog', ...remote });
    expectProblem(none, 401, 'TB_UNAUTHORIZED');
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expectProblem(await h.app.inject({ method: 'GET', url: '/api/v1/catalog', headers: bearer('nope-nope-nope-nope'), ...remote }), 401);
    expectProblem(await h.app.inject({ method: 'GET', url: '/api/v1/catalog', headers: { authorization: TILL_TOKEN }, ...remote }), 401);
    const ok = await h.app.inject({ method: 'GET', url: '/api/v1/catalog', headers: till, ...remote });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().items[0]).toMatchObject({ sku: expect.any(String), name: expect.any(String), price: expect.any(Number) });
  });

  it('lets loopback in without a token only when loopbackOpen, never with a wrong token', async () => {
    const open = await api({ loopbackOpen: true });
    expect((await open.app.inject({ method: 'GET', url: '/api/v1/catalog', remoteAddress: '127.0.0.1' })).statusCode).toBe(200);
    expect((await open.app.inject({ method: 'GET', url: '/api/v1/catalog', remoteAddress: '::1' })).statusCode).toBe(200);
    expectProblem(await open.app.inject({ method: 'GET', url: '/api/v1/catalog', remoteAddress: '127.0.0.1', headers: bearer('wrong-wrong-wrong') }), 401);
    // A forged forwarding header does not make a remote peer local.
    expectProblem(await open.app.inject({ method: 'GET', url: '/api/v1/catalog', remoteAddress: '10.0.0.9', headers: { 'x-forwarded-for': '127.0.0.1' } }), 401);
    const closed = await api({ loopbackOpen: false });
    expectProblem(await closed.app.inject({ method: 'GET', url: '/api/v1/catalog', remoteAddress: '127.0.0.1' }), 401);
  });

  it('allows price overrides for a manager token only (403 for a till, also on open loopback)', async () => {
    const h = await api({ loopbackOpen: true });
    const body = { sku: 'MILK-1L', price: 99, reason: 'promo' };
    expectProblem(await post(h, '/api/v1/price-overrides', body, 'p1'), 403, 'TB_FORBIDDEN');
    expectProblem(await h.app.inject({ method: 'POST', url: '/api/v1/price-overrides', payload: body, headers: { 'idempotency-key': 'p2' } }), 403);
    expect(h.journal.lastSeq).toBe(0);
    const ok = await post(h, '/api/v1/price-overrides', body, 'p3', bearer(MANAGER_TOKEN));
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ type: 'price.overridden', price: 99, previousPrice: 119, by: { name: 'boss', role: 'manager' } });
    const item = (await h.app.inject({ method: 'GET', url: '/api/v1/catalog/4001230001078', headers: till })).json();
    expect(item).toMatchObject({ sku: 'MILK-1L', price: 99, priceOverridden: true });
  });

  it('answers /healthz 503 problem before ready and 200 after, without a token', async () => {
    const h = await api();
    h.ready = false;
    expectProblem(await h.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.0.0.9' }), 503, 'TB_NOT_READY');
    h.ready = true;
    const ok = await h.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.0.0.9' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ status: 'ok' });
  });
});

describe('HTTP API: refunds, voids, inventory, drawer, carts', () => {
  it('runs a till day: cart, checkout, refund, over-refund 409, void, inventory, drawer', async () => {
    const h = await api();
    const cart = (await h.app.inject({ method: 'POST', url: '/api/v1/carts', headers: till })).json();
    await post(h, `/api/v1/carts/${cart.id}/lines`, { sku: 'COFFEE-500', qty: 2 }, undefined);
    const withApples = (await post(h, `/api/v1/carts/${cart.id}/lines`, { sku: 'APPLE-GALA', weightGrams: 1000 }, undefined)).json();
    expect(withApples.quote.total).toBe(2 * 749 + 279);
    expectProblem(await post(h, `/api/v1/carts/${cart.id}/lines`, { sku: 'APPLE-GALA', qty: 1 }, undefined), 400);
    expect(h.journal.lastSeq).toBe(0);
    const sale = await post(h, `/api/v1/carts/${cart.id}/checkout`, { tenders: [{ type: 'card', amount: 1777, approvalRef: 'T-88' }] }, 'co');
    expect(sale.statusCode).toBe(201);
    const saleId = sale.json().id;
    expectProblem(await h.app.inject({ method: 'GET', url: `/api/v1/carts/${cart.id}`, headers: till }), 404);

    const refund = await post(h, '/api/v1/refunds', { saleId, lines: [{ line: 0, qty: 1 }], tenders: [{ type: 'cash', amount: 749 }], reason: 'stale' }, 'r1');
    expect(refund.statusCode).toBe(201);
    expect(refund.json()).toMatchObject({ type: 'refund', total: 749, saleId });
    expectProblem(await post(h, '/api/v1/refunds', { saleId, lines: [{ line: 0, qty: 2 }], tenders: [{ type: 'cash', amount: 1498 }], reason: 'more' }, 'r2'), 409, 'TB_STATE_CONFLICT');
    expectProblem(await post(h, '/api/v1/voids', { saleId, reason: 'late' }, 'v1'), 409, 'TB_STATE_CONFLICT');

    const other = (await post(h, '/api/v1/sales', saleBody, 's2')).json();
    expect((await post(h, '/api/v1/voids', { saleId: other.id, reason: 'mistake' }, 'v2')).statusCode).toBe(201);
    expect((await h.app.inject({ method: 'GET', url: `/api/v1/sales/${other.id}`, headers: till })).json().state.voided).toBe(true);

    const adj = await post(h, '/api/v1/inventory/adjustments', { sku: 'COFFEE-500', delta: 12, reason: 'received' }, 'i1');
    expect(adj.json()).toMatchObject({ type: 'inventory.adjusted', stock: 50 - 2 + 1 + 12 });
    const drawer = await post(h, '/api/v1/drawer/open', { reason: 'no-sale' }, 'd1');
    expect(drawer.statusCode).toBe(201);
    expect(h.journal.lastSeq).toBe(6);
    const types = (await h.app.inject({ method: 'GET', url: '/api/v1/journal', headers: till })).json().events.map((e: { type: string }) => e.type);
    expect(types).toEqual(['sale', 'refund', 'sale', 'void', 'inventory.adjusted', 'drawer.opened']);
  });
});
