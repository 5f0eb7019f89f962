import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, bearer, startApi, TILL_TOKEN } from './testing.ts';

// Property test: random JSON bodies for POST /api/v1/sales, built from a
// seeded generator so a failure is reproducible. Whatever the body, the
// answer is never a 5xx, every refusal is problem+json, and the journal
// grows only when the answer is 201.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SKUS = ['MILK-1L', 'BANANA', 'SOAP-500', 'NOPE', '', 'TOMATO'];

function generator(r: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const scalar = (): unknown =>
    pick([
      () => null,
      () => true,
      () => Math.floor(r() * 2000) - 500,
      () => r() * 100,
      () => -0,
      () => 1e300,
      () => Number.MAX_SAFE_INTEGER,
      () => pick(SKUS),
      () => 'x'.repeat(Math.floor(r() * 50)),
      () => '__proto__',
    ])();
  const any = (depth: number): unknown => {
    if (depth <= 0 || r() < 0.4) return scalar();
    if (r() < 0.5) return Array.from({ length: Math.floor(r() * 4) }, () => any(depth - 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(r() * 4); i > 0; i--) o[pick(['sku', 'qty', 'weightGrams', 'type', 'amount', 'approvalRef', 'lines', 'tenders', 'pan', 'x'])] = any(depth - 1);
    return o;
  };
  const line = (): unknown => {
    if (r() < 0.15) return any(2);
    const l: Record<string, unknown> = { sku: pick(SKUS) };
    if (r() < 0.8) l.qty = r() < 0.8 ? Math.floor(r() * 5) : any(1);
    if (r() < 0.3) l.weightGrams = r() < 0.8 ? Math.floor(r() * 3000) : any(1);
    if (r() < 0.05) l.extra = any(1);
    return l;
  };
  const tender = (): unknown => {
    if (r() < 0.15) return any(2);
    const t: Record<string, unknown> = { type: pick(['cash', 'card', 'cash', 'voucher', 7]), amount: r() < 0.85 ? Math.floor(r() * 3000) : any(1) };
    if (t.type === 'card' || r() < 0.1) t.approvalRef = r() < 0.9 ? 'APR-1' : any(1);
    if (r() < 0.05) t.pan = '4111111111111111';
    return t;
  };
  const valid = (): Record<string, unknown> => ({
    lines: Array.from({ length: 1 + Math.floor(r() * 3) }, () =>
      r() < 0.7 ? { sku: pick(['MILK-1L', 'SOAP-500']), qty: 1 + Math.floor(r() * 3) } : { sku: 'BANANA', weightGrams: 1 + Math.floor(r() * 2000) },
    ),
    tenders: [{ type: 'cash', amount: Math.floor(r() * 3000) }],
  });
  return (): unknown => {
    if (r() < 0.1) return any(3);
    if (r() < 0.35) {
      // Near-valid: a good body, sometimes with one field replaced by noise.
      const body = valid();
      if (r() < 0.3) (body.lines as Array<Record<string, unknown>>)[0]![pick(['sku', 'qty', 'weightGrams', 'x'])] = any(1);
      return body;
    }
    const body: Record<string, unknown> = {};
    if (r() < 0.95) body.lines = r() < 0.9 ? Array.from({ length: Math.floor(r() * 4) }, line) : any(2);
    if (r() < 0.95) body.tenders = r() < 0.9 ? Array.from({ length: Math.floor(r() * 3) }, tender) : any(2);
    if (r() < 0.05) body.note = any(1);
    return body;
  };
}

describe('POST /api/v1/sales with random bodies', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApi();
  });
  afterAll(async () => {
    await h.close();
  });

  it('never answers 5xx and writes the journal only for a 201', async () => {
    const next = generator(rng(20241124));
    const statuses = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const body = next();
      const before = h.journal.lastSeq;
      const res = await h.app.inject({
        method: 'POST',
        url: '/api/v1/sales',
        payload: JSON.stringify(body),
        headers: { ...bearer(TILL_TOKEN), 'content-type': 'application/json', 'idempotency-key': `fuzz-${i}` },
      });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      const where = `case ${i}: ${JSON.stringify(body)} -> ${res.statusCode} ${res.body}`;
      expect(res.statusCode, where).toBeLessThan(500);
      if (res.statusCode === 201) {
        expect(h.journal.lastSeq, where).toBe(before + 1);
      } else {
        expect([400, 409, 422], where).toContain(res.statusCode);
        expect(res.headers['content-type'], where).toMatch(/^application\/problem\+json/);
        expect(h.journal.lastSeq, where).toBe(before);
      }
    }
    // The generator reaches both sides of the property, or it proves nothing.
    expect(statuses.get(201) ?? 0).toBeGreaterThan(5);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(50);
    expect(statuses.get(422) ?? 0).toBeGreaterThan(5);
  });
});
