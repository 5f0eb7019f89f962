import { describe, expect, it } from 'vitest';
import { ErrorCode, isTillboxError } from '../../contract/errors.ts';
import { CatalogState } from './catalog.ts';
import { createDemoCatalog } from './demo-catalog.ts';
import { quote, settle, settleRefund } from './pricing.ts';

const state = () => new CatalogState(createDemoCatalog());

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isTillboxError(err) ? err.code : 'not a TillboxError';
  }
  return undefined;
}

describe('pricing', () => {
  it('prices unit lines exactly and extracts tax per class', () => {
    const q = quote(
      [
        { sku: 'MILK-1L', qty: 2 }, // 2.38 reduced
        { sku: 'SOAP-500', qty: 1 }, // 1.89 standard
      ],
      state(),
    );
    expect(q.total).toBe(427);
    expect(q.taxes).toEqual([
      { taxClass: 'reduced', rateBp: 700, gross: 238, net: 222, tax: 16 }, // 15.57 -> 16
      { taxClass: 'standard', rateBp: 1900, gross: 189, net: 159, tax: 30 }, // 30.18 -> 30
    ]);
    expect(q.tax).toBe(46);
    expect(q.net).toBe(381);
    expect(q.lines[0]).toMatchObject({ sku: 'MILK-1L', qty: 2, unitPrice: 119, amount: 238, unit: 'ea' });
  });

  it('prices weighed lines from grams and price per kg, rounding half up per line', () => {
    // Bananas 1.99/kg: 1234 g -> 245.566 -> 246; 250 g -> 49.75 -> 50; 1 g -> 0.199 -> 0
    const q = quote(
      [
        { sku: 'BANANA', weightGrams: 1234 },
        { sku: 'BANANA', weightGrams: 250 },
        { sku: 'BANANA', weightGrams: 1 },
      ],
      state(),
    );
    expect(q.lines.map((l) => l.amount)).toEqual([246, 50, 0]);
    expect(q.lines[0]).toMatchObject({ qty: 1, weightGrams: 1234, unitPrice: 199, unit: 'kg' });
    // Potatoes 1.29/kg, 2 kg + 500 g: 2.5 * 129 = 322.5 -> 323 (exact half rounds up)
    expect(quote([{ sku: 'POTATO', weightGrams: 2500 }], state()).total).toBe(323);
  });

  it('uses the overridden price when a manager changed it', () => {
    const s = state();
    s.setPrice('COFFEE-500', 599);
    const q = quote([{ sku: 'COFFEE-500', qty: 3 }], s);
    expect(q.total).toBe(1797);
    expect(q.lines[0]!.priceOverridden).toBe(true);
  });

  it('refuses unknown skus with UnknownSku naming every bad line', () => {
    try {
      quote(
        [
          { sku: 'MILK-1L', qty: 1 },
          { sku: 'NOPE', qty: 1 },
          { sku: 'GONE', qty: 1 },
        ],
        state(),
      );
      expect.unreachable();
    } catch (err) {
      expect(isTillboxError(err, ErrorCode.UnknownSku)).toBe(true);
      expect((err as { detail: { errors: unknown[] } }).detail.errors).toEqual([
        { path: 'lines.1.sku', message: 'unknown sku NOPE' },
        { path: 'lines.2.sku', message: 'unknown sku GONE' },
      ]);
    }
  });

  it('refuses qty on a weighed item and weightGrams on a unit item', () => {
    expect(codeOf(() => quote([{ sku: 'BANANA', qty: 2 }], state()))).toBe(ErrorCode.Validation);
    expect(codeOf(() => quote([{ sku: 'MILK-1L', weightGrams: 500 }], state()))).toBe(ErrorCode.Validation);
    expect(codeOf(() => quote([{ sku: 'MILK-1L' }], state()))).toBe(ErrorCode.Validation);
  });

  it('gives change from cash, never from a card, and refuses tenders that do not cover the total', () => {
    expect(settle(427, [{ type: 'cash', amount: 500 }])).toEqual({ paid: 500, change: 73 });
    expect(settle(427, [{ type: 'card', amount: 427, approvalRef: 'A1' }])).toEqual({ paid: 427, change: 0 });
    expect(
      settle(427, [
        { type: 'card', amount: 400, approvalRef: 'A1' },
        { type: 'cash', amount: 50 },
      ]),
    ).toEqual({ paid: 450, change: 23 });
    expect(codeOf(() => settle(427, [{ type: 'cash', amount: 426 }]))).toBe(ErrorCode.TenderMismatch);
    expect(codeOf(() => settle(427, [{ type: 'card', amount: 500, approvalRef: 'A1' }]))).toBe(ErrorCode.TenderMismatch);
    expect(codeOf(() => settleRefund(100, [{ type: 'cash', amount: 101 }]))).toBe(ErrorCode.TenderMismatch);
    expect(codeOf(() => settleRefund(100, [{ type: 'cash', amount: 100 }]))).toBeUndefined();
  });
});
