import type { Money } from '../../contract/pos.ts';

// Integer money. Amounts are minor units (cents) in safe integers; products
// that could exceed 2^53 are computed in BigInt and checked on the way back.
//
// Rounding rule (one rule for the whole box): round half away from zero, on
// minor units, once per computed amount — per weighed line (grams x price per
// kg / 1000) and per tax class (tax extracted from the class's gross sum).

/** Throws unless `n` is a safe integer: every amount passes through here. */
export function assertMinor(n: number, what = 'amount'): number {
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what} must be a safe integer of minor units, got ${n}`);
  return n;
}

/** round(a * b / c), half away from zero; exact for any safe-integer inputs. */
export function mulDivRound(a: number, b: number, c: number): number {
  assertMinor(a, 'a');
  assertMinor(b, 'b');
  assertMinor(c, 'c');
  if (c === 0) throw new RangeError('division by zero');
  let num = BigInt(a) * BigInt(b);
  let den = BigInt(c);
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const negative = num < 0n;
  const abs = negative ? -num : num;
  const q = abs / den;
  const r = abs % den;
  const rounded = r * 2n >= den ? q + 1n : q;
  return assertMinor(Number(negative ? -rounded : rounded), 'result');
}

/** Sum of safe integers, refusing to overflow silently. */
export function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total = assertMinor(total + assertMinor(v));
  return total;
}

export function money(amount: number, currency: string): Money {
  return { amount: assertMinor(amount), currency };
}

/** "12.34 EUR" for logs and receipts (2 decimals; JPY-style currencies are not in scope). */
export function formatMoney(amount: number, currency: string): string {
  const sign = amount < 0 ? '-' : '';
  const abs = Math.abs(amount);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')} ${currency}`;
}
