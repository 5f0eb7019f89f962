// A scanned code → a cart line (issue 4 §2, last sentence). Pure functions
// over the catalog, so the POS (POST /api/v1/carts/{id}/scan) and any other
// caller (a kiosk, the devices process, tests) turn a code into the same line:
//
//   plain EAN/UPC/GTIN     → the item by barcode; unit item: { sku, qty: 1 }
//   price-embedded EAN-13  → the item by its lookup code (value zeroed);
//                            { sku, embeddedPrice } — the label's price is the amount
//   weight-embedded EAN-13 → { sku, weightGrams } priced per kg (item sold by weight)
//   GS1 (01) + (310n)      → the item by GTIN; weighed item: { sku, weightGrams }
//   unknown code           → TB_UNKNOWN_SKU (422) naming the code
//
// Weights from labels and GS1 strings were fixed by a certified labelling
// scale when the label was printed, so they may be sold as they are. A weight
// from the till's own scale must be a stable one: see ScaleReadings.
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import type { ScanPayload, VariableMeasureLayout } from '../../contract/devices/scanner.ts';
import type { CartLine, CatalogItem } from '../../contract/pos.ts';
import { parseScan, ScanError } from '../../drivers/scanner/parse-scan.ts';
import { isValidGtin, type Catalog } from './catalog.ts';
import { validationError } from './validate.ts';

export interface ScanLineOptions {
  /** Variable-measure layouts (config devices.variableMeasure, else the catalog's). */
  variableMeasure?: readonly VariableMeasureLayout[];
}

/** Parses a code as a scanner sends it (AIM prefix optional, GS as 0x1D) and makes its cart line. */
export function lineFromCode(code: string, catalog: Catalog, opts: ScanLineOptions = {}): CartLine {
  let scan: ScanPayload;
  try {
    scan = parseScan(code, opts.variableMeasure?.length ? { variableMeasure: opts.variableMeasure } : {});
  } catch (err) {
    if (err instanceof ScanError) throw validationError(`invalid scan: ${err.message}`, [{ path: 'code', message: err.message }]);
    throw err;
  }
  return lineFromScan(scan, catalog, code);
}

/** The cart line for a parsed scan (e.g. a .../scan payload heard on MQTT). */
export function lineFromScan(scan: ScanPayload, catalog: Catalog, code: string = scan.data): CartLine {
  const shown = printable(code);
  // A scanner verifies check digits; typed or camera-read digits may not have been (no AIM, not inferred as EAN).
  const untrusted = scan.symbology === 'unknown' && /^([0-9]{8}|[0-9]{12,14})$/.test(scan.data) && !isValidGtin(scan.data);
  if (scan.checkDigitValid === false || untrusted) {
    throw validationError(`code ${shown} has a wrong check digit (misread or mistyped)`, [{ path: 'code', message: 'wrong EAN/UPC check digit' }]);
  }

  const vm = scan.variableMeasure;
  if (vm) {
    const item = catalog.byBarcode(vm.lookupCode);
    if (!item) throw unknownCode(shown, [vm.lookupCode]);
    if (vm.priceCheckDigitValid === false) {
      throw validationError(`code ${shown}: the ${vm.kind} check digit is wrong (damaged label?)`, [{ path: 'code', message: `wrong ${vm.kind} check digit` }]);
    }
    if (vm.minor === undefined || vm.minor === 0) {
      throw validationError(`code ${shown}: embedded ${vm.kind} ${vm.value} cannot be sold`, [{ path: 'code', message: `embedded ${vm.kind} is zero or not exact` }]);
    }
    if (vm.kind === 'price') return { sku: item.sku, embeddedPrice: vm.minor, code: scan.data };
    requireWeighed(item, shown);
    return { sku: item.sku, weightGrams: vm.minor, code: scan.data };
  }

  const gs1 = scan.gs1;
  if (gs1) {
    if (gs1.errors.length > 0) throw validationError(`code ${shown}: GS1 data not trusted: ${gs1.errors.join('; ')}`, [{ path: 'code', message: gs1.errors[0]! }]);
    const gtin = gs1.fields.gtin;
    const item = gtin ? findByGtin(catalog, gtin) : undefined;
    if (!item) throw unknownCode(shown, gtin ? gtinCandidates(gtin) : []);
    if (item.soldByWeight) {
      const kg = gs1.fields.netWeightKg;
      const grams = kg === undefined ? undefined : exactGrams(kg);
      if (grams === undefined || grams === 0) {
        throw validationError(`code ${shown}: ${item.sku} is sold by weight and the code carries no exact net weight in kg (310n)`, [{ path: 'code', message: 'no (310n) net weight' }]);
      }
      return { sku: item.sku, weightGrams: grams, code: scan.data };
    }
    return { sku: item.sku, qty: 1, code: scan.data };
  }

  const candidates = [scan.data, ...(scan.gtin ? gtinCandidates(scan.gtin) : [])];
  const item = candidates.map((c) => catalog.byBarcode(c)).find((i) => i !== undefined);
  if (!item) throw unknownCode(shown, [...new Set(candidates)]);
  if (item.soldByWeight) {
    throw validationError(`${item.sku} is sold by weight: add it with { sku, scale } (the scale's stable weight) or scan its weight label`, [{ path: 'code', message: `${item.sku} needs a weight` }]);
  }
  return { sku: item.sku, qty: 1, code: scan.data };
}

function requireWeighed(item: CatalogItem, shown: string): void {
  if (!item.soldByWeight) {
    throw validationError(`code ${shown} embeds a weight but ${item.sku} is sold by unit`, [{ path: 'code', message: `${item.sku} is not sold by weight` }]);
  }
}

/** A GTIN-14 and the shorter forms catalogs store (EAN-13, UPC-A, EAN-8) when its leading digits are zeros. */
export function gtinCandidates(gtin14: string): string[] {
  const out = [gtin14];
  for (const n of [13, 12, 8]) if (/^0*$/.test(gtin14.slice(0, 14 - n))) out.push(gtin14.slice(14 - n));
  return out;
}

function findByGtin(catalog: Catalog, gtin14: string): CatalogItem | undefined {
  for (const c of gtinCandidates(gtin14)) {
    const item = catalog.byBarcode(c);
    if (item) return item;
  }
  return undefined;
}

/** '0.195' (kg) → 195; undefined when not a whole number of grams. */
export function exactGrams(kg: string): number | undefined {
  const m = /^([0-9]+)(?:\.([0-9]+))?$/.exec(kg);
  if (!m) return undefined;
  const frac = m[2] ?? '';
  if (/[1-9]/.test(frac.slice(3))) return undefined;
  const n = Number(m[1]! + frac.padEnd(3, '0').slice(0, 3));
  return Number.isSafeInteger(n) ? n : undefined;
}

function unknownCode(shown: string, tried: string[]): TillboxError {
  return new TillboxError(ErrorCode.UnknownSku, `unknown code ${shown}: no catalog item has this barcode`, {
    field: 'code',
    detail: { code: shown, tried, errors: [{ path: 'code', message: `no item with barcode ${shown}` }] },
  });
}

/** The code as shown in an error: GS as <GS>, other control characters escaped, bounded. */
function printable(code: string): string {
  const s = code.replace(/\x1d/g, '<GS>').replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
