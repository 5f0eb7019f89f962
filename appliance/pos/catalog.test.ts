import { describe, expect, it } from 'vitest';
import { Catalog, CatalogState, gtinCheckDigit, isValidGtin } from './catalog.ts';
import { createDemoCatalog, demoCatalogData } from './demo-catalog.ts';

describe('GTIN check digits', () => {
  it('computes the GS1 check digit of known EAN-13 and UPC-A codes', () => {
    expect(gtinCheckDigit('400638133393')).toBe(1); // 4006381333931, the Wikipedia example
    expect(gtinCheckDigit('03600029145')).toBe(2); // UPC-A 036000291452
    expect(isValidGtin('4006381333931')).toBe(true);
    expect(isValidGtin('4006381333932')).toBe(false);
    expect(isValidGtin('96385074')).toBe(true); // EAN-8
  });

  it('every packaged demo item has a valid EAN-13 and every produce item a PLU', () => {
    const data = demoCatalogData();
    const packaged = data.items.filter((i) => !i.soldByWeight);
    const produce = data.items.filter((i) => i.soldByWeight);
    expect(packaged.length).toBeGreaterThanOrEqual(15);
    expect(produce.length).toBeGreaterThanOrEqual(5);
    for (const item of packaged) {
      expect(item.barcodes).toHaveLength(1);
      const ean = item.barcodes[0]!;
      expect(ean, item.sku).toMatch(/^[0-9]{13}$/);
      expect(gtinCheckDigit(ean.slice(0, 12)), item.sku).toBe(Number(ean[12]));
    }
    for (const item of produce) {
      expect(item.unit).toBe('kg');
      expect(item.barcodes[0]).toMatch(/^([0-9]{4,5}|[0-9]{13})$/); // PLU, a variable-measure lookup code, or a prepacked item's GTIN
    }
  });
});

describe('Catalog', () => {
  it('finds items by sku and by barcode', () => {
    const c = createDemoCatalog();
    expect(c.currency).toBe('EUR');
    expect(c.get('MILK-1L')?.price).toBe(119);
    expect(c.byBarcode('4001230001078')?.sku).toBe('MILK-1L');
    expect(c.byBarcode('4011')?.sku).toBe('BANANA');
    expect(c.get('NOPE')).toBeUndefined();
  });

  it('refuses a catalog with a wrong check digit, a duplicate barcode, an unknown tax class or a float price', () => {
    const bad = (mutate: (d: ReturnType<typeof demoCatalogData>) => void) => {
      const d = demoCatalogData();
      mutate(d);
      return () => new Catalog(d);
    };
    expect(bad((d) => (d.items[0]!.barcodes = ['4001230001079']))).toThrow(/not a valid GTIN/);
    expect(bad((d) => (d.items[1]!.barcodes = ['4001230001078']))).toThrow(/used twice/);
    expect(bad((d) => (d.items[0]!.taxClass = 'luxury'))).toThrow(/unknown tax class/);
    expect(bad((d) => (d.items[0]!.price = 1.19))).toThrow(/invalid catalog/);
  });

  it('tracks overrides and stock deltas in CatalogState and resets to the base', () => {
    const s = new CatalogState(createDemoCatalog());
    s.setPrice('MILK-1L', 99);
    s.adjust('MILK-1L', -3);
    s.adjust('BANANA', 5); // untracked: ignored
    expect(s.view(s.catalog.get('MILK-1L')!)).toMatchObject({ price: 99, priceOverridden: true, stock: 47, taxRateBp: 700 });
    expect(s.view(s.catalog.get('BANANA')!).stock).toBeUndefined();
    s.reset();
    expect(s.price('MILK-1L')).toBe(119);
    expect(s.stock('MILK-1L')).toBe(50);
  });
});
