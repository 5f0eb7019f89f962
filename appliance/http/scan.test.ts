// POST /api/v1/carts/{id}/scan and scale lines over HTTP, like app.test.ts.
import { describe, expect, it } from 'vitest';
import { ScaleReadings } from '../pos/scale-readings.ts';
import { type ApiHarness, apiPerTest, bearer, TILL_TOKEN } from './testing.ts';

const api = apiPerTest();

const till = bearer(TILL_TOKEN);
const post = (h: ApiHarness, url: string, body: unknown, headers: Record<string, string> = till) => h.app.inject({ method: 'POST', url, payload: body as object, headers });

function expectProblem(res: { statusCode: number; headers: Record<string, unknown>; json: () => any }, status: number, code?: string) {
  expect(res.statusCode).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  const body = res.json();
  if (code) expect(body.code).toBe(code);
  return body;
}

async function newCart(h: ApiHarness): Promise<string> {
  return (await post(h, '/api/v1/carts', undefined)).json().id;
}

describe('HTTP API: scanning into a cart', () => {
  it('turns price- and weight-embedded labels and plain EANs into priced lines, and checks out one sale', async () => {
    const h = await api();
    const id = await newCart(h);
    const seq = h.journal.lastSeq;
    const gouda = await post(h, `/api/v1/carts/${id}/scan`, { code: '2100042012349' });
    expect(gouda.statusCode).toBe(200);
    expect(gouda.json().lines).toEqual([{ sku: 'GOUDA-DELI', embeddedPrice: 1234, code: '2100042012349' }]);
    await post(h, `/api/v1/carts/${id}/scan`, { code: ']E02804011012346' });
    const cart = (await post(h, `/api/v1/carts/${id}/scan`, { code: ']E04001230001078' })).json();
    expect(cart.quote.lines.map((l: { sku: string; amount: number }) => [l.sku, l.amount])).toEqual([
      ['GOUDA-DELI', 1234],
      ['BANANA', 246],
      ['MILK-1L', 119],
    ]);
    expect(cart.quote.total).toBe(1599);
    expect(h.journal.lastSeq).toBe(seq); // scanning writes nothing
    const sale = await h.app.inject({
      method: 'POST',
      url: `/api/v1/carts/${id}/checkout`,
      payload: { tenders: [{ type: 'cash', amount: 2000 }] },
      headers: { ...till, 'idempotency-key': 'scan-co-1' },
    });
    expect(sale.statusCode).toBe(201);
    expect(sale.json()).toMatchObject({ total: 1599, change: 401 });
    expect(h.journal.lastSeq).toBe(seq + 1);
  });

  it('an unknown code is 422 problem+json naming the code; malformed input 400; unknown cart 404', async () => {
    const h = await api();
    const id = await newCart(h);
    const p = expectProblem(await post(h, `/api/v1/carts/${id}/scan`, { code: '4006381333931' }), 422, 'TB_UNKNOWN_SKU');
    expect(p.detail).toContain('4006381333931');
    expect(p.code).toBe('TB_UNKNOWN_SKU');
    expectProblem(await post(h, `/api/v1/carts/${id}/scan`, { code: '4001230001079' }), 400, 'TB_VALIDATION'); // wrong check digit
    expectProblem(await post(h, `/api/v1/carts/${id}/scan`, { code: '' }), 400, 'TB_VALIDATION');
    expectProblem(await post(h, `/api/v1/carts/${id}/scan`, { barcode: '4001230001078' }), 400, 'TB_VALIDATION');
    expectProblem(await post(h, '/api/v1/carts/00000000-0000-4000-8000-000000000000/scan', { code: '4001230001078' }), 404, 'TB_NOT_FOUND');
    expect((await h.app.inject({ method: 'GET', url: `/api/v1/carts/${id}`, headers: till })).json().lines).toEqual([]);
  });

  it('{ sku, scale } lines take the stable weight core heard, and refuse a weight in motion with 409', async () => {
    const readings = new ScaleReadings('demo-store');
    const h = await api({ weights: readings });
    const id = await newCart(h);
    const weight = (r: object) => readings.onMessage('store/demo-store/devices/scale-1/weight', JSON.stringify({ unit: 'kg', protocol: 'sics', ...r }));
    weight({ value: '0.482', grams: 482, stable: false, status: 'unstable' });
    expectProblem(await post(h, `/api/v1/carts/${id}/lines`, { sku: 'BANANA', scale: 'scale-1' }), 409, 'TB_STATE_CONFLICT');
    weight({ value: '0.482', grams: 482, stable: true, status: 'stable' });
    const cart = (await post(h, `/api/v1/carts/${id}/lines`, { sku: 'BANANA', scale: 'scale-1' })).json();
    expect(cart.lines).toEqual([{ sku: 'BANANA', weightGrams: 482, scale: 'scale-1' }]);
    expect(cart.quote.lines[0]).toMatchObject({ weightGrams: 482, amount: 96 }); // 482 g × 1.99 = 0.95918
    expectProblem(await post(h, `/api/v1/carts/${id}/lines`, { sku: 'BANANA', scale: 'scale-1', weightGrams: 1 }), 400, 'TB_VALIDATION');
  });
});
