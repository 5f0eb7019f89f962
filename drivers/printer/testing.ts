// Fixtures shared by the printer tests and the simulator demo.
import type { ReceiptSale } from './receipt.ts';

export const SALE_ID = '0190f5a2-7c3e-7b2a-9d4e-1a2b3c4d5e6f';

/** A sale as the `sale` event carries it: one unit line, one multi-qty line, one weighed line, cash with change. */
export function sampleSale(id = SALE_ID): ReceiptSale {
  return {
    id,
    recordedAt: '2026-03-14T09:26:53.589Z',
    currency: 'EUR',
    lines: [
      { sku: 'COFFEE', name: 'Café crème', qty: 1, unitPrice: 320, unit: 'ea', amount: 320, taxClass: 'food', taxRateBp: 700, priceOverridden: false },
      { sku: 'WATER', name: 'Mineral water 0.5 l', qty: 3, unitPrice: 129, unit: 'ea', amount: 387, taxClass: 'standard', taxRateBp: 1900, priceOverridden: false },
      { sku: 'APPLE', name: 'Apples Elstar', qty: 1, weightGrams: 750, unitPrice: 299, unit: 'kg', amount: 224, taxClass: 'food', taxRateBp: 700, priceOverridden: false },
    ],
    taxes: [
      { taxClass: 'food', rateBp: 700, gross: 544, net: 508, tax: 36 },
      { taxClass: 'standard', rateBp: 1900, gross: 387, net: 325, tax: 62 },
    ],
    total: 931,
    tax: 98,
    net: 833,
    tenders: [{ type: 'cash', amount: 2000 }],
    paid: 2000,
    change: 1069,
    by: { name: 'till-1', role: 'till' },
  };
}
