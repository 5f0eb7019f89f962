import type { TaxClass, TaxLine } from '../../contract/pos.ts';
import { mulDivRound, sum } from './money.ts';

// Tax: prices are tax-INCLUSIVE (EU style: the shelf price is what the
// customer pays). Tax is extracted per tax class from the class's gross sum,
// rounded half away from zero once per class:
//   tax = round(gross * rateBp / (10000 + rateBp)),  net = gross - tax.
// Rates are integers in basis points (1900 = 19 %).

export class TaxTable {
  readonly #rates = new Map<string, number>();

  constructor(classes: readonly TaxClass[]) {
    for (const c of classes) {
      if (this.#rates.has(c.name)) throw new TypeError(`duplicate tax class ${c.name}`);
      this.#rates.set(c.name, c.rateBp);
    }
  }

  has(name: string): boolean {
    return this.#rates.has(name);
  }

  rateBp(name: string): number {
    const rate = this.#rates.get(name);
    if (rate === undefined) throw new TypeError(`unknown tax class ${name}`);
    return rate;
  }

  classes(): TaxClass[] {
    return [...this.#rates].map(([name, rateBp]) => ({ name, rateBp }));
  }
}

/** Tax contained in a tax-inclusive gross amount. */
export function inclusiveTax(gross: number, rateBp: number): number {
  return mulDivRound(gross, rateBp, 10_000 + rateBp);
}

/**
 * Groups tax-inclusive amounts by class and extracts the tax of each class.
 * Output is sorted by class name so equal baskets give equal documents.
 */
export function taxBreakdown(amounts: ReadonlyArray<{ taxClass: string; taxRateBp: number; amount: number }>): TaxLine[] {
  const groups = new Map<string, { rateBp: number; amounts: number[] }>();
  for (const a of amounts) {
    const g = groups.get(a.taxClass);
    if (g) {
      if (g.rateBp !== a.taxRateBp) throw new TypeError(`tax class ${a.taxClass} has two rates in one document`);
      g.amounts.push(a.amount);
    } else groups.set(a.taxClass, { rateBp: a.taxRateBp, amounts: [a.amount] });
  }
  return [...groups.keys()].sort().map((taxClass) => {
    const g = groups.get(taxClass)!;
    const gross = sum(g.amounts);
    const tax = inclusiveTax(gross, g.rateBp);
    return { taxClass, rateBp: g.rateBp, gross, net: gross - tax, tax };
  });
}
