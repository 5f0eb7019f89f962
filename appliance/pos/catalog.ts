import { CatalogData, type CatalogItem, type CatalogItemView } from '../../contract/pos.ts';
import type { VariableMeasureLayout } from '../../contract/devices/scanner.ts';
import { validateLayout } from '../../drivers/scanner/variable-measure.ts';
import { TaxTable } from './tax.ts';
import { validator } from './validate.ts';

// The catalog as configured (or sent down by HQ): immutable base data with
// lookups by sku and barcode. What changes at the till — local price
// overrides and stock levels — lives in CatalogState, a projection the POS
// service rebuilds from the journal.

/** GS1 check digit of the digits before it (GTIN-8/12/13/14, right-aligned weights 3,1,3,...). */
export function gtinCheckDigit(body: string): number {
  if (!/^[0-9]+$/.test(body)) throw new TypeError('GTIN body must be digits');
  let total = 0;
  for (let i = 0; i < body.length; i++) {
    const digit = body.charCodeAt(body.length - 1 - i) - 48;
    total += digit * (i % 2 === 0 ? 3 : 1);
  }
  return (10 - (total % 10)) % 10;
}

/** True for a GTIN-8/12/13/14 whose last digit is the right check digit. */
export function isValidGtin(code: string): boolean {
  if (!/^[0-9]+$/.test(code) || ![8, 12, 13, 14].includes(code.length)) return false;
  return gtinCheckDigit(code.slice(0, -1)) === Number(code.at(-1));
}

/** 4–5 digit price-look-up codes (produce); not GTINs, no check digit. */
export function isPlu(code: string): boolean {
  return /^[0-9]{4,5}$/.test(code);
}

const checkCatalog = validator(CatalogData, 'catalog');

export class Catalog {
  readonly currency: string;
  readonly taxes: TaxTable;
  /** Variable-measure layouts the catalog's lookup codes follow (may be empty). */
  readonly variableMeasure: readonly VariableMeasureLayout[];
  readonly #bySku = new Map<string, CatalogItem>();
  readonly #byBarcode = new Map<string, CatalogItem>();

  /** Validates the whole catalog: schema, tax classes, barcodes (check digits, duplicates), units. */
  constructor(data: CatalogData) {
    const valid = checkCatalog(structuredClone(data));
    this.currency = valid.currency;
    this.taxes = new TaxTable(valid.taxClasses);
    this.variableMeasure = Object.freeze(valid.variableMeasure ?? []);
    for (const l of this.variableMeasure) {
      const why = validateLayout(l);
      if (why) throw new TypeError(`variableMeasure: ${why}`);
    }
    for (const item of valid.items) {
      if (this.#bySku.has(item.sku)) throw new TypeError(`duplicate sku ${item.sku}`);
      if (!this.taxes.has(item.taxClass)) throw new TypeError(`sku ${item.sku}: unknown tax class ${item.taxClass}`);
      if (item.soldByWeight !== (item.unit === 'kg')) throw new TypeError(`sku ${item.sku}: weighed items use unit kg, others ea`);
      for (const code of item.barcodes) {
        if (!isValidGtin(code) && !isPlu(code)) throw new TypeError(`sku ${item.sku}: barcode ${code} is not a valid GTIN or PLU`);
        if (this.#byBarcode.has(code)) throw new TypeError(`barcode ${code} used twice`);
        this.#byBarcode.set(code, item);
      }
      this.#bySku.set(item.sku, Object.freeze(item));
    }
  }

  get(sku: string): CatalogItem | undefined {
    return this.#bySku.get(sku);
  }

  byBarcode(code: string): CatalogItem | undefined {
    return this.#byBarcode.get(code);
  }

  items(): CatalogItem[] {
    return [...this.#bySku.values()];
  }
}

/** Current prices and stock: catalog base + journal events (overrides, deltas). */
export class CatalogState {
  readonly catalog: Catalog;
  readonly #prices = new Map<string, number>();
  readonly #stock = new Map<string, number>();

  constructor(catalog: Catalog) {
    this.catalog = catalog;
    this.reset();
  }

  reset(): void {
    this.#prices.clear();
    this.#stock.clear();
    for (const item of this.catalog.items()) if (item.trackStock) this.#stock.set(item.sku, item.stock ?? 0);
  }

  price(sku: string): number | undefined {
    return this.#prices.get(sku) ?? this.catalog.get(sku)?.price;
  }

  isOverridden(sku: string): boolean {
    return this.#prices.has(sku);
  }

  setPrice(sku: string, price: number): void {
    this.#prices.set(sku, price);
  }

  /** Stock of a tracked item (may go negative: selling is never blocked by a count). */
  stock(sku: string): number | undefined {
    return this.#stock.get(sku);
  }

  /** Applies a delta to a tracked item; untracked or unknown skus are ignored. */
  adjust(sku: string, delta: number): void {
    const current = this.#stock.get(sku);
    if (current !== undefined) this.#stock.set(sku, current + delta);
  }

  view(item: CatalogItem): CatalogItemView {
    const { stock: _initial, ...base } = item;
    const view: CatalogItemView = {
      ...base,
      price: this.price(item.sku) ?? item.price,
      currency: this.catalog.currency,
      taxRateBp: this.catalog.taxes.rateBp(item.taxClass),
      priceOverridden: this.isOverridden(item.sku),
    };
    const stock = this.#stock.get(item.sku);
    if (stock !== undefined) view.stock = stock;
    return view;
  }

  views(): CatalogItemView[] {
    return this.catalog.items().map((i) => this.view(i));
  }
}
