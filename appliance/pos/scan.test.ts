// Scan → cart line with real vectors against the demo catalog and its
// variable-measure layouts (21 = price in cents, 28 = weight in grams, 5+5).
import { afterEach, describe, expect, it } from 'vitest';
import { isTillboxError } from '../../contract/errors.ts';
import { createDemoCatalog, DEMO_VARIABLE_MEASURE } from './demo-catalog.ts';
import { exactGrams, gtinCandidates, lineFromCode } from './scan.ts';
import { ScaleReadings } from './scale-readings.ts';
import { startPos, type PosHarness } from './testing.ts';

const catalog = createDemoCatalog();
const vm = { variableMeasure: DEMO_VARIABLE_MEASURE };
const GS = '\x1d';

function refused(fn: () => unknown, code: string, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(isTillboxError(err), String(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected a refusal');
}

describe('lineFromCode', () => {
  it('a plain EAN-13 (with or without AIM ]E0) is one unit of the item', () => {
    expect(lineFromCode('4001230001078', catalog, vm)).toEqual({ sku: 'MILK-1L', qty: 1, code: '4001230001078' });
    expect(lineFromCode(']E04001230001078', catalog, vm)).toMatchObject({ sku: 'MILK-1L', qty: 1 });
  });

  it('21-prefix price-embedded EAN-13: Gouda label 2100042012349 → a line at the embedded 12.34', () => {
    // 21 | 00042 item | 01234 price in cents | 9 check digit; lookup code 2100042000001
    expect(lineFromCode('2100042012349', catalog, vm)).toEqual({ sku: 'GOUDA-DELI', embeddedPrice: 1234, code: '2100042012349' });
  });

  it('28-prefix weight-embedded EAN-13: 2804011012346 → 1234 g of bananas, priced per kg', () => {
    expect(lineFromCode(']E02804011012346', catalog, vm)).toEqual({ sku: 'BANANA', weightGrams: 1234, code: '2804011012346' });
  });

  it('GS1-128 (01) + (3103): a prepacked weighed item → a weighed line; a unit item ignores the weight', () => {
    const salmon = `]C1010400123000212931030004851726063010LOT7`;
    expect(lineFromCode(salmon, catalog, vm)).toMatchObject({ sku: 'SALMON-FILLET', weightGrams: 485 });
    const milk = `]C10104001230001078${'3103'}000195${GS}10ABC`;
    expect(lineFromCode(milk, catalog, vm)).toMatchObject({ sku: 'MILK-1L', qty: 1 });
  });

  it('refuses unknown codes naming the code, wrong check digits, and weighed items without a weight', () => {
    refused(() => lineFromCode('4006381333931', catalog, vm), 'TB_UNKNOWN_SKU', /unknown code 4006381333931/);
    refused(() => lineFromCode('2899999012341', catalog, vm), 'TB_UNKNOWN_SKU', /unknown code 2899999012341/);
    refused(() => lineFromCode('4001230001079', catalog, vm), 'TB_VALIDATION', /check digit/);
    refused(() => lineFromCode('4011', catalog, vm), 'TB_VALIDATION', /BANANA is sold by weight/);
    refused(() => lineFromCode('2804011000008', catalog, vm), 'TB_VALIDATION', /embedded weight 0.000 cannot be sold/);
    // Without layouts a 21-prefix label is just an unknown EAN-13.
    refused(() => lineFromCode('2100042012349', catalog), 'TB_UNKNOWN_SKU', /2100042012349/);
    refused(() => lineFromCode('', catalog, vm), 'TB_VALIDATION', /empty/);
  });

  it('helpers: GTIN-14 short forms and exact grams', () => {
    expect(gtinCandidates('04001230001078')).toEqual(['04001230001078', '4001230001078']);
    expect(gtinCandidates('00012345678905')).toEqual(['00012345678905', '0012345678905', '012345678905']);
    expect(exactGrams('0.195')).toBe(195);
    expect(exactGrams('1.2345')).toBeUndefined();
    expect(exactGrams('2.5')).toBe(2500);
  });
});

describe('PosService: scan into a cart, scale lines', () => {
  let h: PosHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('scanned lines are priced (embedded price, per-kg weight) and nothing is journaled until checkout', async () => {
    h = await startPos();
    const before = h.journal.lastSeq;
    const cart = h.pos.createCart();
    h.pos.scanIntoCart(cart.id, { code: '2100042012349' });
    h.pos.scanIntoCart(cart.id, { code: ']E02804011012346' });
    const view = h.pos.scanIntoCart(cart.id, { code: '4001230001078' });
    expect(view.quote.lines.map((l) => [l.sku, l.amount])).toEqual([
      ['GOUDA-DELI', 1234],
      ['BANANA', 246], // 1234 g × 1.99/kg = 2.45566 → 2.46
      ['MILK-1L', 119],
    ]);
    expect(view.quote.lines[0]).toMatchObject({ qty: 1, unitPrice: 1234, priceEmbedded: true });
    expect(view.quote.lines[1]).toMatchObject({ weightGrams: 1234, unitPrice: 199, unit: 'kg' });
    expect(h.journal.lastSeq).toBe(before);
    const sale = await h.pos.checkout(cart.id, { tenders: [{ type: 'cash', amount: 2000 }] }, 'scan-sale-1');
    expect(sale.value.total).toBe(1234 + 246 + 119);
    expect(sale.value.lines[0]).toMatchObject({ sku: 'GOUDA-DELI', amount: 1234, priceEmbedded: true });
    expect(h.journal.lastSeq).toBe(before + 1);
  });

  it('{ sku, scale } takes the latest stable reading core heard; motion, overload and offline are refused', async () => {
    const readings = new ScaleReadings('demo-store');
    h = await startPos({ weights: readings });
    const cart = h.pos.createCart();
    const w = (r: object) => readings.onMessage('store/demo-store/devices/scale-1/weight', JSON.stringify({ unit: 'kg', protocol: 'sics', ...r }));
    refused(() => h!.pos.addCartLine(cart.id, { sku: 'TOMATO', scale: 'scale-1' }), 'TB_STATE_CONFLICT', /no reading/);
    w({ value: '0.731', grams: 731, stable: false, status: 'unstable' });
    refused(() => h!.pos.addCartLine(cart.id, { sku: 'TOMATO', scale: 'scale-1' }), 'TB_STATE_CONFLICT', /in motion/);
    w({ value: null, stable: false, overload: true, status: 'overweight' });
    refused(() => h!.pos.addCartLine(cart.id, { sku: 'TOMATO', scale: 'scale-1' }), 'TB_STATE_CONFLICT', /overload/);
    w({ value: '0.730', grams: 730, stable: true, status: 'stable' });
    const view = h.pos.addCartLine(cart.id, { sku: 'TOMATO', scale: 'scale-1' });
    expect(view.lines.at(-1)).toEqual({ sku: 'TOMATO', weightGrams: 730, scale: 'scale-1' });
    expect(view.quote.lines.at(-1)).toMatchObject({ weightGrams: 730, amount: 255 }); // 730 g × 3.49 = 2.5477
    // The kiosk cannot add its own weight to a scale line, nor weigh a unit item.
    refused(() => h!.pos.addCartLine(cart.id, { sku: 'TOMATO', scale: 'scale-1', weightGrams: 5 }), 'TB_VALIDATION', /cart line/);
    refused(() => h!.pos.addCartLine(cart.id, { sku: 'MILK-1L', scale: 'scale-1' }), 'TB_VALIDATION', /cart line/);
    // The scale went offline: its last reading is not used.
    readings.onMessage('store/demo-store/devices/scale-1/state', JSON.stringify({ id: 'scale-1', kind: 'scale', state: 'offline' }));
    refused(() => h!.pos.addCartLine(cart.id, { sku: 'TOMATO', scale: 'scale-1' }), 'TB_STATE_CONFLICT', /not online/);
    // Garbage on the topic is ignored.
    readings.onMessage('store/demo-store/devices/scale-1/weight', 'not json');
    readings.onMessage('store/demo-store/devices/scale-1/weight', JSON.stringify({ value: 5 }));
    expect(readings.latest('scale-1')).toBeUndefined();
  });

  it('without a weight source, scale lines are refused clearly', async () => {
    h = await startPos();
    const cart = h.pos.createCart();
    refused(() => h!.pos.addCartLine(cart.id, { sku: 'TOMATO', scale: 'scale-1' }), 'TB_STATE_CONFLICT', /no scale readings/);
  });
});
