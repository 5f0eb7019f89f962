// GTIN check digits (GS1 General Specifications §7.9.1, "Standard check digit
// calculations for GS1 data structures": weights 3,1,3,1... from the right,
// excluding the check digit; check = (10 - sum mod 10) mod 10) and UPC-E
// zero suppression (GS1 GenSpecs §5.2.2.4.2, UPC-E → UPC-A expansion table).

/** Check digit for a digit string (without its check digit). Also SSCC, GLN, GTIN-8/12/13/14. */
export function gs1CheckDigit(body: string): number {
  let sum = 0;
  for (let i = body.length - 1, w = 3; i >= 0; i--, w = 4 - w) {
    const d = body.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    sum += d * w;
  }
  return (10 - (sum % 10)) % 10;
}

/** True when the last digit is the correct GS1 check digit of the rest. */
export function hasValidCheckDigit(code: string): boolean {
  if (!/^[0-9]{2,18}$/.test(code)) return false;
  return gs1CheckDigit(code.slice(0, -1)) === code.charCodeAt(code.length - 1) - 48;
}

/** Append the check digit. */
export function withCheckDigit(body: string): string {
  return body + String(gs1CheckDigit(body));
}

/** GTIN-8/12/13/14 → 14 digits (left-padded with zeros), or undefined when not a GTIN length. */
export function toGtin14(code: string): string | undefined {
  if (!/^[0-9]+$/.test(code) || ![8, 12, 13, 14].includes(code.length)) return undefined;
  return code.padStart(14, '0');
}

/**
 * UPC-E (8 digits: number system 0/1, six data digits, check) → UPC-A (12).
 * Expansion by the last data digit, GS1 GenSpecs §5.2.2.4.2 table.
 */
export function expandUpcE(upce: string): string | undefined {
  if (!/^[01][0-9]{7}$/.test(upce)) return undefined;
  const ns = upce[0]!;
  const d = upce.slice(1, 7);
  const check = upce[7]!;
  const last = d[5]!;
  let body: string;
  switch (last) {
    case '0':
    case '1':
    case '2':
      body = d.slice(0, 2) + last + '0000' + d.slice(2, 5);
      break;
    case '3':
      body = d.slice(0, 3) + '00000' + d.slice(3, 5);
      break;
    case '4':
      body = d.slice(0, 4) + '00000' + d[4]!;
      break;
    default:
      body = d.slice(0, 5) + '0000' + last;
  }
  return ns + body + check;
}
