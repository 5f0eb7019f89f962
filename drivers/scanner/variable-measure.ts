// Variable-measure trade items in restricted-circulation EAN-13 (prefixes
// 20–29, GS1 General Specifications §2.1.11 / §3.x RCN). The layout of the
// 12 data digits is national (set by each GS1 member organisation), so it
// comes from config: prefix(2) + item + [price check digit] + value + check(1).
//   e.g. Germany 21–29 (price, 5+5 no price check) or 2-4-1-5 with price check.
import type { VariableMeasure, VariableMeasureLayout } from '../../contract/devices/scanner.ts';
import { hasValidCheckDigit, withCheckDigit } from './ean.ts';
import { impliedDecimal } from './gs1.ts';

export function validateLayout(l: VariableMeasureLayout): string | undefined {
  const total = 2 + l.item + (l.hasPriceCheckDigit ? 1 : 0) + l.value;
  if (total !== 12) return `layout for prefix ${l.prefix}: 2 + item ${l.item}${l.hasPriceCheckDigit ? ' + 1' : ''} + value ${l.value} = ${total}, must be 12`;
  if (l.hasPriceCheckDigit && l.value !== 4 && l.value !== 5) return `layout for prefix ${l.prefix}: a price check digit exists only for 4- or 5-digit values (GS1 GenSpecs §7.9.3)`;
  return undefined;
}

// Weighting-factor products, GS1 GenSpecs §7.9.3 Figure 7.9.3-1.
const W2M = [0, 2, 4, 6, 8, 9, 1, 3, 5, 7]; // 2-: units digit of 2d minus its tens digit
const W3 = [0, 3, 6, 9, 2, 5, 8, 1, 4, 7]; // 3: units digit of 3d
const W5P = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]; // 5+: units + tens of 5d
const W5M = [0, 5, 9, 4, 8, 3, 7, 2, 6, 1]; // 5-: units - tens of 5d

/** Price/weight check digit for a 4- or 5-digit value (§7.9.3, examples: 2875 → 9, 14685 → 6). */
export function priceCheckDigit(value: string): number {
  const d = [...value].map((c) => c.charCodeAt(0) - 48);
  if (d.some((v) => v < 0 || v > 9)) return -1;
  if (d.length === 4) {
    const sum = W2M[d[0]!]! + W2M[d[1]!]! + W3[d[2]!]! + W5M[d[3]!]!;
    return (sum * 3) % 10;
  }
  if (d.length === 5) {
    const sum = W5P[d[0]!]! + W2M[d[1]!]! + W5M[d[2]!]! + W5P[d[3]!]! + W2M[d[4]!]!;
    const target = (10 - (sum % 10)) % 10;
    return W5M.indexOf(target);
  }
  return -1;
}

/** Decode an EAN-13 against the configured layouts; undefined when no layout has its prefix. */
export function decodeVariableMeasure(ean13: string, layouts: readonly VariableMeasureLayout[]): VariableMeasure | undefined {
  if (!/^2[0-9]{12}$/.test(ean13) || !hasValidCheckDigit(ean13)) return undefined;
  const layout = layouts.find((l) => l.prefix === ean13.slice(0, 2));
  if (!layout || validateLayout(layout)) return undefined;
  let pos = 2;
  const item = ean13.slice(pos, (pos += layout.item));
  const pcd = layout.hasPriceCheckDigit ? ean13[pos++] : undefined;
  const digits = ean13.slice(pos, pos + layout.value);
  const decimals = layout.decimals ?? (layout.kind === 'price' ? 2 : 3);
  const zeroed = ean13.slice(0, 2) + item + (pcd !== undefined ? '0' : '') + '0'.repeat(layout.value);
  const out: VariableMeasure = {
    prefix: layout.prefix,
    item,
    lookupCode: withCheckDigit(zeroed),
    kind: layout.kind,
    value: impliedDecimal(digits, decimals),
  };
  // Integer minor units only when exact: cents for a 2-decimal price, grams for a 3-decimal kg weight.
  const minorDecimals = layout.kind === 'price' ? 2 : 3;
  if (decimals <= minorDecimals) out.minor = Number(digits) * 10 ** (minorDecimals - decimals);
  if (pcd !== undefined) out.priceCheckDigitValid = priceCheckDigit(digits) === Number(pcd);
  return out;
}

/** Build a variable-measure EAN-13 (simulators, tests, label printing). */
export function encodeVariableMeasure(layout: VariableMeasureLayout, item: string, value: string): string {
  const err = validateLayout(layout);
  if (err) throw new TypeError(err);
  if (!new RegExp(`^[0-9]{${layout.item}}$`).test(item)) throw new TypeError(`item must be ${layout.item} digits`);
  if (!new RegExp(`^[0-9]{${layout.value}}$`).test(value)) throw new TypeError(`value must be ${layout.value} digits`);
  const pcd = layout.hasPriceCheckDigit ? String(priceCheckDigit(value)) : '';
  return withCheckDigit(layout.prefix + item + pcd + value);
}
