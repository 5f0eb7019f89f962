import { getHeapSnapshot } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isTillboxError } from '../../contract/errors.ts';
import type { Actor } from '../../contract/pos.ts';
import { card, cash, startPos, type PosHarness } from './testing.ts';

const harnesses: PosHarness[] = [];
async function harness(): Promise<PosHarness> {
  const h = await startPos();
  harnesses.push(h);
  return h;
}
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

const manager: Actor = { name: 'boss', role: 'manager' };
const till: Actor = { name: 'till-1', role: 'till' };

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isTillboxError(err) ? err.code : `not a TillboxError: ${String(err)}`;
  }
  return undefined;
}

/**
 * How many distinct strings matching `pattern` (global) are alive in this
 * process's heap: a heap snapshot collects garbage first, so what it holds is
 * reachable. Deterministic, unlike heap sizes.
 */
async function liveStrings(pattern: RegExp): Promise<Set<string>> {
  const found = new Set<string>();
  let tail = '';
  for await (const chunk of getHeapSnapshot()) {
    const text = tail + String(chunk);
    for (const m of text.matchAll(pattern)) found.add(m[0]);
    tail = text.slice(-64); // a marker split across two chunks
  }
  return found;
}

const basket = {
  lines: [
    { sku: 'MILK-1L', qty: 3 },
    { sku: 'BANANA', weightGrams: 1234 },
  ],
  tenders: [cash(1000)],
};

describe('PosService on a LevelJournal', () => {
  it('sells: one journal event with the computed totals, change and stock decrement', async () => {
    const { pos, journal } = await harness();
    const { value: sale, replayed } = await pos.sell(basket, 'k-1', till);
    expect(replayed).toBe(false);
    expect(journal.lastSeq).toBe(1);
    expect(sale).toMatchObject({ seq: 1, type: 'sale', idempotencyKey: 'k-1', currency: 'EUR', total: 357 + 246, paid: 1000, change: 397, by: till });
    const event = await journal.getById(sale.id);
    expect(event?.payload).toMatchObject({ total: 603, change: 397 });
    expect(pos.catalogItem('MILK-1L')?.stock).toBe(47);
    expect((await pos.getSale(sale.id))?.state).toEqual({ voided: false, refundIds: [], refundedQty: [0, 0], refundedTotal: 0 });
  });

  it('answers a retry with the same key and body with the original sale and writes nothing', async () => {
    const { pos, journal } = await harness();
    const first = await pos.sell(basket, 'k-1');
    // Same body, keys reordered: still the same request.
    const again = await pos.sell({ tenders: [cash(1000)], lines: basket.lines }, 'k-1');
    expect(again.replayed).toBe(true);
    expect(again.value.id).toBe(first.value.id);
    expect(journal.lastSeq).toBe(1);
    expect(pos.catalogItem('MILK-1L')?.stock).toBe(47);
  });

  it('turns concurrent requests with one key into one sale', async () => {
    const { pos, journal } = await harness();
    const results = await Promise.all(Array.from({ length: 8 }, () => pos.sell(basket, 'same')));
    expect(new Set(results.map((r) => r.value.id)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(journal.lastSeq).toBe(1);
    expect(pos.catalogItem('MILK-1L')?.stock).toBe(47);
  });

  it('refuses the same key with a different body, or for another operation, as IdempotencyConflict', async () => {
    const { pos, journal } = await harness();
    const { value: sale } = await pos.sell(basket, 'k-1');
    expect(await codeOf(pos.sell({ ...basket, tenders: [cash(2000)] }, 'k-1'))).toBe(ErrorCode.IdempotencyConflict);
    expect(await codeOf(pos.void({ saleId: sale.id, reason: 'oops' }, 'k-1'))).toBe(ErrorCode.IdempotencyConflict);
    expect(journal.lastSeq).toBe(1);
  });

  it('validates completely before the journal: bad bodies, unknown skus and short tenders write nothing', async () => {
    const { pos, journal } = await harness();
    const bad: Array<[unknown, string]> = [
      [{ lines: [{ sku: 'MILK-1L', qty: -1 }], tenders: [cash(100)] }, ErrorCode.Validation],
      [{ lines: [{ sku: 'MILK-1L', qty: 1.5 }], tenders: [cash(100)] }, ErrorCode.Validation],
      [{ lines: [{ sku: 'MILK-1L', qty: '1' }], tenders: [cash(100)] }, ErrorCode.Validation],
      [{ lines: [{ sku: 'BANANA', qty: 1 }], tenders: [cash(100)] }, ErrorCode.Validation],
      [{ lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'card', amount: 119, approvalRef: 'A', pan: '4111111111111111' }] }, ErrorCode.Validation],
      [{ lines: [{ sku: 'NOPE', qty: 1 }], tenders: [cash(100)] }, ErrorCode.UnknownSku],
      [{ lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [cash(118)] }, ErrorCode.TenderMismatch],
      [{ lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [card(120)] }, ErrorCode.TenderMismatch],
    ];
    for (const [i, [body, code]] of bad.entries()) expect(await codeOf(pos.sell(body, `bad-${i}`)), JSON.stringify(body)).toBe(code);
    expect(await codeOf(pos.sell(basket, ''))).toBe(ErrorCode.Validation);
    expect(journal.lastSeq).toBe(0);
  });

  it('refunds part of a sale and refuses to refund more than sold minus already refunded', async () => {
    const { pos, journal } = await harness();
    const { value: sale } = await pos.sell(basket, 's');
    const r1 = await pos.refund({ saleId: sale.id, lines: [{ line: 0, qty: 2 }], tenders: [cash(238)], reason: 'sour' }, 'r1');
    expect(r1.value).toMatchObject({ type: 'refund', saleId: sale.id, total: 238, tax: 16, lines: [{ line: 0, sku: 'MILK-1L', qty: 2, amount: 238, restock: true }] });
    expect(await codeOf(pos.refund({ saleId: sale.id, lines: [{ line: 0, qty: 2 }], tenders: [cash(238)], reason: 'again' }, 'r2'))).toBe(ErrorCode.StateConflict);
    expect(await codeOf(pos.refund({ saleId: sale.id, lines: [{ line: 0, qty: 1 }], tenders: [cash(100)], reason: 'short' }, 'r3'))).toBe(ErrorCode.TenderMismatch);
    expect(await codeOf(pos.refund({ saleId: sale.id, lines: [{ line: 5, qty: 1 }], tenders: [cash(100)], reason: 'x' }, 'r4'))).toBe(ErrorCode.Validation);
    expect(await codeOf(pos.refund({ saleId: '0190a5e4-0000-7000-8000-000000000000', lines: [{ line: 0, qty: 1 }], tenders: [cash(119)], reason: 'x' }, 'r5'))).toBe(ErrorCode.NotFound);
    // The weighed line refunds whole, at its line amount.
    const r6 = await pos.refund(
      {
        saleId: sale.id,
        lines: [
          { line: 1, qty: 1 },
          { line: 0, qty: 1 },
        ],
        tenders: [card(246 + 119)],
        reason: 'rest',
      },
      'r6',
    );
    expect(r6.value.total).toBe(365);
    expect((await pos.getSale(sale.id))?.state).toMatchObject({ refundedQty: [3, 1], refundedTotal: 603 });
    expect(pos.catalogItem('MILK-1L')?.stock).toBe(50);
    expect(journal.lastSeq).toBe(3);
    // A retried refund is answered from the journal, not refused as an over-refund of itself.
    const retry = await pos.refund({ saleId: sale.id, lines: [{ line: 0, qty: 2 }], tenders: [cash(238)], reason: 'sour' }, 'r1');
    expect(retry).toMatchObject({ replayed: true, value: { id: r1.value.id } });
  });

  it('lets exactly one of two racing refunds of the last units pass', async () => {
    const { pos, journal } = await harness();
    const { value: sale } = await pos.sell(basket, 's');
    const body = (reason: string) => ({ saleId: sale.id, lines: [{ line: 0, qty: 2 }], tenders: [cash(238)], reason });
    for (let round = 0; round < 5; round++) {
      // Fresh sale each round so the race is always over the same 3 units.
      const { value: s } = await pos.sell(basket, `s-${round}`);
      const results = await Promise.allSettled([pos.refund({ ...body('a'), saleId: s.id }, `a-${round}`), pos.refund({ ...body('b'), saleId: s.id }, `b-${round}`)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(isTillboxError(rejected.reason, ErrorCode.StateConflict)).toBe(true);
      expect((await pos.getSale(s.id))?.state.refundedQty[0]).toBe(2);
    }
    expect(journal.lastSeq).toBe(1 + 5 * 2);
  });

  it('shares fsyncs between concurrent sales (no global lock around the append)', async () => {
    const { pos, journal } = await harness();
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => pos.sell(basket, `c-${i}`)));
    expect(new Set(results.map((r) => r.value.seq)).size).toBe(16);
    expect(journal.lastSeq).toBe(16);
    expect(journal.stats.maxBatch).toBeGreaterThan(1);
    expect(pos.catalogItem('MILK-1L')?.stock).toBe(50 - 16 * 3);
  });

  it('voids a sale once, restocks it, and refuses voids after refunds and refunds after a void', async () => {
    const { pos, journal } = await harness();
    const { value: a } = await pos.sell(basket, 'a');
    const { value: b } = await pos.sell(basket, 'b');
    const v = await pos.void({ saleId: a.id, reason: 'wrong customer' }, 'v1');
    expect(v.value).toMatchObject({ type: 'void', saleId: a.id, total: 603 });
    expect(await codeOf(pos.void({ saleId: a.id, reason: 'twice' }, 'v2'))).toBe(ErrorCode.StateConflict);
    expect(await codeOf(pos.refund({ saleId: a.id, lines: [{ line: 0, qty: 1 }], tenders: [cash(119)], reason: 'x' }, 'r'))).toBe(ErrorCode.StateConflict);
    await pos.refund({ saleId: b.id, lines: [{ line: 0, qty: 1 }], tenders: [cash(119)], reason: 'x' }, 'rb');
    expect(await codeOf(pos.void({ saleId: b.id, reason: 'late' }, 'v3'))).toBe(ErrorCode.StateConflict);
    expect((await pos.getSale(a.id))?.state).toMatchObject({ voided: true, voidId: v.value.id });
    expect(pos.catalogItem('MILK-1L')?.stock).toBe(50 - 3 + 1);
    expect(journal.lastSeq).toBe(4);
  });

  it('lets only a manager override a price, and later sales use the new price', async () => {
    const { pos, journal } = await harness();
    expect(await codeOf(pos.overridePrice({ sku: 'MILK-1L', price: 99, reason: 'promo' }, 'p0', till))).toBe(ErrorCode.Forbidden);
    expect(journal.lastSeq).toBe(0);
    const o = await pos.overridePrice({ sku: 'MILK-1L', price: 99, reason: 'promo' }, 'p1', manager);
    expect(o.value).toMatchObject({ type: 'price.overridden', price: 99, previousPrice: 119, by: manager });
    const { value: sale } = await pos.sell({ lines: [{ sku: 'MILK-1L', qty: 2 }], tenders: [cash(198)] }, 's');
    expect(sale.total).toBe(198);
    expect(sale.lines[0]?.priceOverridden).toBe(true);
  });

  it('adjusts tracked stock by deltas and refuses untracked or unknown items', async () => {
    const { pos, journal } = await harness();
    const r = await pos.adjustInventory({ sku: 'MILK-1L', delta: 24, reason: 'received' }, 'i1');
    expect(r.value).toMatchObject({ type: 'inventory.adjusted', delta: 24, stock: 74 });
    expect(await codeOf(pos.adjustInventory({ sku: 'BANANA', delta: 5, reason: 'received' }, 'i2'))).toBe(ErrorCode.Validation);
    expect(await codeOf(pos.adjustInventory({ sku: 'NOPE', delta: 5, reason: 'received' }, 'i3'))).toBe(ErrorCode.UnknownSku);
    expect(await codeOf(pos.adjustInventory({ sku: 'MILK-1L', delta: 0, reason: 'received' }, 'i4'))).toBe(ErrorCode.Validation);
    expect(journal.lastSeq).toBe(1);
  });

  it('records drawer openings', async () => {
    const { pos } = await harness();
    const r = await pos.openDrawer({ reason: 'no-sale' }, 'd1', till);
    expect(r.value).toMatchObject({ type: 'drawer.opened', reason: 'no-sale', by: till });
    expect(await codeOf(pos.openDrawer({ reason: 'sale', saleId: '0190a5e4-0000-7000-8000-000000000000' }, 'd2'))).toBe(ErrorCode.NotFound);
  });

  it('rebuilds sales, refunds, voids, stock and prices from the journal after a restart', async () => {
    const h = await harness();
    const { value: a } = await h.pos.sell(basket, 'a');
    const { value: b } = await h.pos.sell(basket, 'b');
    await h.pos.refund({ saleId: a.id, lines: [{ line: 0, qty: 2 }], tenders: [cash(238)], reason: 'x' }, 'r');
    await h.pos.void({ saleId: b.id, reason: 'x' }, 'v');
    await h.pos.overridePrice({ sku: 'COFFEE-500', price: 599, reason: 'x' }, 'p', manager);
    await h.pos.adjustInventory({ sku: 'MILK-1L', delta: -5, reason: 'damaged' }, 'i');
    const before = { a: await h.pos.getSale(a.id), b: await h.pos.getSale(b.id), catalog: h.pos.catalog() };
    await h.restart();
    expect(await h.pos.getSale(a.id)).toEqual(before.a);
    expect(await h.pos.getSale(b.id)).toEqual(before.b);
    expect(h.pos.catalog()).toEqual(before.catalog);
    expect(h.pos.catalogItem('MILK-1L')?.stock).toBe(50 - 3 + 2 - 5);
    // Over-refund is still refused after the restart, and a retry is still a replay.
    expect(await codeOf(h.pos.refund({ saleId: a.id, lines: [{ line: 0, qty: 2 }], tenders: [cash(238)], reason: 'y' }, 'r2'))).toBe(ErrorCode.StateConflict);
    expect((await h.pos.sell(basket, 'a')).replayed).toBe(true);
    expect(h.journal.lastSeq).toBe(6);
  });

  it('turns a cart into one sale and forgets the cart; carts never touch the journal', async () => {
    const { pos, journal } = await harness();
    const cart = pos.createCart();
    pos.addCartLine(cart.id, { sku: 'MILK-1L', qty: 1 });
    pos.addCartLine(cart.id, { sku: 'TOMATO', weightGrams: 500 });
    const withSoap = pos.addCartLine(cart.id, { sku: 'SOAP-500', qty: 1 });
    expect(withSoap.quote.total).toBe(119 + 175 + 189);
    const view = pos.removeCartLine(cart.id, 2);
    expect(view.quote.total).toBe(294);
    expect(() => pos.addCartLine(cart.id, { sku: 'NOPE', qty: 1 })).toThrow(/unknown sku/);
    expect(() => pos.addCartLine(cart.id, { sku: 'MILK-1L', qty: 0 })).toThrow(/invalid cart line/);
    expect(journal.lastSeq).toBe(0);
    const sale = await pos.checkout(cart.id, { tenders: [card(294)] }, 'co-1');
    expect(sale.value).toMatchObject({ total: 294, cartId: cart.id, seq: 1 });
    expect(() => pos.getCart(cart.id)).toThrow(/no cart/);
    const retry = await pos.checkout(cart.id, { tenders: [card(294)] }, 'co-1');
    expect(retry).toMatchObject({ replayed: true, value: { id: sale.value.id } });
    expect(journal.lastSeq).toBe(1);
  });

  it('refuses to work before start()', async () => {
    const h = await harness();
    await h.pos.stop();
    expect(await codeOf(h.pos.sell(basket, 'x'))).toBe(ErrorCode.NotReady);
    await h.pos.start();
  });

  it('keeps only compact per-sale state in memory: the sale events stay in the journal (issue 14)', { timeout: 120_000 }, async () => {
    const { pos, journal } = await harness();
    const n = 200;
    // Each sale carries a unique marker that only its event holds (the card approval reference).
    const marker = (i: number) => `HEAPMARK-${String(i).padStart(5, '0')}`;
    for (let i = 0; i < n; i++) await pos.sell({ lines: basket.lines, tenders: [card(603, marker(i))] }, `m-${i}`);
    expect(journal.lastSeq).toBe(n);
    const live = await liveStrings(/HEAPMARK-\d{5}/g);
    // Before: every sale's whole event stayed in PosService (n markers alive). Now none beyond
    // what the last request or two may still hold in transit.
    expect(live.size).toBeLessThanOrEqual(2);
    // And every sale is still there, whole, read back from the journal.
    const first = await pos.getSale((await journal.getBySeq(1))!.id);
    expect(first?.tenders).toEqual([card(603, marker(0))]);
    expect(first?.lines).toHaveLength(2);
  });

  // With the default window every sale of this test stays among the recent ones; with a window
  // of 2 (issue 14: memory must not grow with the sales) a, b and c are read from the journal.
  it.each([
    ['every sale among the recent ones', undefined],
    ['sold lines of only the 2 most recent sales in memory', 2],
  ])('refunds, voids and shows old sales, after a restart too, with the same views and errors (%s)', async (_, recentSales) => {
    const h = await startPos(recentSales === undefined ? {} : { recentSales });
    harnesses.push(h);
    const sales = [];
    for (let i = 0; i < 30; i++) sales.push((await h.pos.sell(basket, `o-${i}`)).value);
    const [a, b, c] = sales as [(typeof sales)[0], (typeof sales)[0], (typeof sales)[0]];
    // The view GET shows is the view the sale answered, read back from the journal.
    expect(await h.pos.getSale(a.id)).toEqual(a);
    const r = await h.pos.refund({ saleId: a.id, lines: [{ line: 0, qty: 2 }], tenders: [cash(238)], reason: 'x' }, 'r-a');
    const v = await h.pos.void({ saleId: b.id, reason: 'x' }, 'v-b');
    const stock = h.pos.catalogItem('MILK-1L')?.stock;
    expect(stock).toBe(50 - 30 * 3 + 2 + 3);
    const before = await Promise.all(sales.map((s) => h.pos.getSale(s.id)));
    expect(before[0]?.state).toEqual({ voided: false, refundIds: [r.value.id], refundedQty: [2, 0], refundedTotal: 238 });
    expect(before[1]?.state).toEqual({ voided: true, voidId: v.value.id, refundIds: [], refundedQty: [0, 0], refundedTotal: 0 });
    expect(before[2]).toEqual(c);
    await h.restart();
    expect(await Promise.all(sales.map((s) => h.pos.getSale(s.id)))).toEqual(before);
    expect(h.pos.catalogItem('MILK-1L')?.stock).toBe(stock);
    // Events that are not sales are not sales; unknown ids stay unknown, with the same errors.
    const unknown = '0190a5e4-0000-7000-8000-000000000000';
    expect(await h.pos.getSale(r.value.id)).toBeUndefined();
    expect(await h.pos.getSale(unknown)).toBeUndefined();
    expect(await codeOf(h.pos.void({ saleId: r.value.id, reason: 'x' }, 'v-r'))).toBe(ErrorCode.NotFound);
    expect(await codeOf(h.pos.refund({ saleId: unknown, lines: [{ line: 0, qty: 1 }], tenders: [cash(119)], reason: 'x' }, 'r-u'))).toBe(ErrorCode.NotFound);
    expect(await codeOf(h.pos.openDrawer({ reason: 'sale', saleId: v.value.id }, 'd-v'))).toBe(ErrorCode.NotFound);
    // Limits and states of old sales hold after the restart.
    expect(await codeOf(h.pos.refund({ saleId: a.id, lines: [{ line: 0, qty: 2 }], tenders: [cash(238)], reason: 'y' }, 'r-a2'))).toBe(ErrorCode.StateConflict);
    expect(await codeOf(h.pos.refund({ saleId: b.id, lines: [{ line: 0, qty: 1 }], tenders: [cash(119)], reason: 'y' }, 'r-b'))).toBe(ErrorCode.StateConflict);
    expect(await codeOf(h.pos.void({ saleId: a.id, reason: 'y' }, 'v-a'))).toBe(ErrorCode.StateConflict);
    const rest = await h.pos.refund(
      {
        saleId: a.id,
        lines: [
          { line: 0, qty: 1 },
          { line: 1, qty: 1 },
        ],
        tenders: [cash(119 + 246)],
        reason: 'rest',
      },
      'r-a3',
    );
    expect(rest.value.total).toBe(365);
    expect((await h.pos.void({ saleId: c.id, reason: 'y' }, 'v-c')).value).toMatchObject({ saleId: c.id, total: 603 });
    expect((await h.pos.getSale(a.id))?.state).toMatchObject({ refundedQty: [3, 1], refundedTotal: 603 });
    expect(h.pos.catalogItem('MILK-1L')?.stock).toBe(stock! + 1 + 3);
    await h.pos.openDrawer({ reason: 'sale', saleId: c.id }, 'd-c');
    // The rebuild at start reads the lines of old sales that refunds and voids need: same stock, same states.
    const after = await Promise.all(sales.map((s) => h.pos.getSale(s.id)));
    const stockAfter = h.pos.catalogItem('MILK-1L')?.stock;
    await h.restart();
    expect(await Promise.all(sales.map((s) => h.pos.getSale(s.id)))).toEqual(after);
    expect(h.pos.catalogItem('MILK-1L')?.stock).toBe(stockAfter);
  });
});
