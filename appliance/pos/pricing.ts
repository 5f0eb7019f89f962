import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import type { FieldError } from '../../contract/problem.ts';
import type { CartLine, Quote, SaleLine, SaleLineRequest, Tender } from '../../contract/pos.ts';
import type { CatalogState } from './catalog.ts';
import { mulDivRound, sum } from './money.ts';
import { taxBreakdown } from './tax.ts';
import { validationError } from './validate.ts';

// Sale computation. Input has passed schema validation; what is checked here
// needs the catalog (does the sku exist, is it weighed or not).
//
// - unit line:    amount = unitPrice * qty                      (exact)
// - weighed line: amount = round(weightGrams * pricePerKg / 1000), half away from zero
// - price-embedded line (a variable-measure label scanned into a cart): qty 1,
//   amount = the label's price (it was computed by the labelling scale)
// - taxes:        per tax class on the summed gross (see tax.ts)
// - total:        sum of line amounts (prices are tax-inclusive)

/** What quote() prices: sale line requests, or cart lines (which may carry a label's embedded price). */
export type PricedLineRequest = SaleLineRequest | CartLine;

export function priceLine(req: PricedLineRequest, index: number, state: CatalogState, errors: FieldError[]): SaleLine | undefined {
  const item = state.catalog.get(req.sku);
  if (!item) return undefined;
  const unitPrice = state.price(item.sku) ?? item.price;
  const base = {
    sku: item.sku,
    name: item.name,
    unitPrice,
    unit: item.unit,
    taxClass: item.taxClass,
    taxRateBp: state.catalog.taxes.rateBp(item.taxClass),
    priceOverridden: state.isOverridden(item.sku),
  };
  if ('embeddedPrice' in req && req.embeddedPrice !== undefined) {
    return { ...base, unit: 'ea', unitPrice: req.embeddedPrice, qty: 1, amount: req.embeddedPrice, priceOverridden: false, priceEmbedded: true };
  }
  if (item.soldByWeight) {
    if (req.qty !== undefined) errors.push({ path: `lines.${index}.qty`, message: `${item.sku} is sold by weight: send weightGrams, not qty` });
    if (req.weightGrams === undefined) {
      errors.push({ path: `lines.${index}.weightGrams`, message: `is required: ${item.sku} is sold by weight` });
      return undefined;
    }
    return { ...base, qty: 1, weightGrams: req.weightGrams, amount: mulDivRound(req.weightGrams, unitPrice, 1000) };
  }
  if (req.weightGrams !== undefined) errors.push({ path: `lines.${index}.weightGrams`, message: `${item.sku} is sold by unit: send qty, not weightGrams` });
  if (req.qty === undefined) {
    errors.push({ path: `lines.${index}.qty`, message: 'is required' });
    return undefined;
  }
  return { ...base, qty: req.qty, amount: mulDivRound(req.qty, unitPrice, 1) };
}

/** Prices a basket. Unknown skus → UnknownSku (all of them listed); qty/weight misuse → Validation. */
export function quote(lines: readonly PricedLineRequest[], state: CatalogState): Quote {
  const unknown: FieldError[] = [];
  lines.forEach((l, i) => {
    if (!state.catalog.get(l.sku)) unknown.push({ path: `lines.${i}.sku`, message: `unknown sku ${l.sku}` });
  });
  if (unknown.length > 0) {
    throw new TillboxError(ErrorCode.UnknownSku, `unknown sku: ${unknown.map((u) => u.message.slice(12)).join(', ')}`, {
      field: unknown[0]!.path,
      detail: { errors: unknown },
    });
  }
  const errors: FieldError[] = [];
  const priced: SaleLine[] = [];
  lines.forEach((l, i) => {
    const line = priceLine(l, i, state, errors);
    if (line) priced.push(line);
  });
  if (errors.length > 0) throw validationError('invalid sale lines', errors);
  const taxes = taxBreakdown(priced);
  const total = sum(priced.map((l) => l.amount));
  const tax = sum(taxes.map((t) => t.tax));
  return { currency: state.catalog.currency, lines: priced, taxes, total, tax, net: total - tax };
}

/**
 * Tender rules for a sale: card tenders are charged exactly (no change from a
 * card), so their sum may not exceed the total; all tenders together must
 * cover the total; the excess is change, paid from cash.
 */
export function settle(total: number, tenders: readonly Tender[]): { paid: number; change: number } {
  const card = sum(tenders.filter((t) => t.type === 'card').map((t) => t.amount));
  const paid = sum(tenders.map((t) => t.amount));
  if (card > total) {
    throw new TillboxError(ErrorCode.TenderMismatch, `card tenders (${card}) exceed the total (${total}); a card pays its share exactly`, {
      field: 'tenders',
      detail: { total, card, paid },
    });
  }
  if (paid < total) {
    throw new TillboxError(ErrorCode.TenderMismatch, `tenders (${paid}) do not cover the total (${total})`, {
      field: 'tenders',
      detail: { total, paid },
    });
  }
  return { paid, change: paid - total };
}

/** Refund tenders pay out exactly the refund total (no change on refunds). */
export function settleRefund(total: number, tenders: readonly Tender[]): void {
  const paid = sum(tenders.map((t) => t.amount));
  if (paid !== total) {
    throw new TillboxError(ErrorCode.TenderMismatch, `refund tenders (${paid}) must equal the refund total (${total})`, {
      field: 'tenders',
      detail: { total, paid },
    });
  }
}
