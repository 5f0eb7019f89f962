import { describe, expect, it } from 'vitest';
import { formatMoney, mulDivRound, sum } from './money.ts';
import { inclusiveTax, taxBreakdown } from './tax.ts';

describe('money', () => {
  it('rounds half away from zero on minor units', () => {
    expect(mulDivRound(1, 1, 2)).toBe(1); // 0.5 -> 1
    expect(mulDivRound(3, 1, 2)).toBe(2); // 1.5 -> 2
    expect(mulDivRound(1, 1, 3)).toBe(0); // 0.33 -> 0
    expect(mulDivRound(2, 1, 3)).toBe(1); // 0.67 -> 1
    expect(mulDivRound(-1, 1, 2)).toBe(-1);
    expect(mulDivRound(-3, 1, 2)).toBe(-2);
  });

  it('computes products beyond 2^53 exactly and refuses results that are not safe integers', () => {
    expect(mulDivRound(9_000_000_000_000, 10_000, 10_000)).toBe(9_000_000_000_000);
    expect(() => mulDivRound(Number.MAX_SAFE_INTEGER, 2, 1)).toThrow(RangeError);
    expect(() => mulDivRound(1.5, 1, 1)).toThrow(RangeError);
  });

  it('sums integers and refuses floats or overflow', () => {
    expect(sum([1, 2, 3])).toBe(6);
    expect(() => sum([0.1, 0.2])).toThrow(RangeError);
    expect(() => sum([Number.MAX_SAFE_INTEGER, 1])).toThrow(RangeError);
  });

  it('formats minor units with two decimals', () => {
    expect(formatMoney(1234, 'EUR')).toBe('12.34 EUR');
    expect(formatMoney(5, 'EUR')).toBe('0.05 EUR');
    expect(formatMoney(-250, 'EUR')).toBe('-2.50 EUR');
  });
});

describe('tax (prices include tax)', () => {
  it('extracts 19 % and 7 % from gross amounts with half-up rounding', () => {
    expect(inclusiveTax(119, 1900)).toBe(19); // 1.19 gross -> 0.19 tax
    expect(inclusiveTax(100, 1900)).toBe(16); // 15.966 -> 16
    expect(inclusiveTax(107, 700)).toBe(7);
    expect(inclusiveTax(15, 700)).toBe(1); // 0.981 -> 1
    expect(inclusiveTax(7, 700)).toBe(0); // 0.457 -> 0
    expect(inclusiveTax(500, 0)).toBe(0);
  });

  it('rounds once per tax class on the summed gross, not per line', () => {
    // Three lines of 0.15 at 7 %: per line 1+1+1 = 3 cents, per class round(45*7/107)=round(2.94)=3.
    // Ten lines of 0.07 at 7 %: per line 0 each, per class round(70*7/107)=round(4.58)=5.
    const lines = Array.from({ length: 10 }, () => ({ taxClass: 'reduced', taxRateBp: 700, amount: 7 }));
    expect(taxBreakdown(lines)).toEqual([{ taxClass: 'reduced', rateBp: 700, gross: 70, net: 65, tax: 5 }]);
  });

  it('groups by class, sorted by name, and gross = net + tax for every class', () => {
    const out = taxBreakdown([
      { taxClass: 'standard', taxRateBp: 1900, amount: 59 },
      { taxClass: 'reduced', taxRateBp: 700, amount: 119 },
      { taxClass: 'standard', taxRateBp: 1900, amount: 189 },
    ]);
    expect(out.map((t) => t.taxClass)).toEqual(['reduced', 'standard']);
    for (const t of out) expect(t.net + t.tax).toBe(t.gross);
    expect(out[1]).toEqual({ taxClass: 'standard', rateBp: 1900, gross: 248, net: 208, tax: 40 });
  });
});
