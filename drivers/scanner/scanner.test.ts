import { describe, expect, it } from 'vitest';
import { describeAim, splitAim } from './aim.ts';
import { expandUpcE, gs1CheckDigit, hasValidCheckDigit, toGtin14 } from './ean.ts';
import { GS, encodeGs1, gs1Date, impliedDecimal, parseGs1 } from './gs1.ts';
import { decodeVariableMeasure, encodeVariableMeasure, priceCheckDigit, validateLayout } from './variable-measure.ts';
import { ScanError, parseScan } from './parse-scan.ts';
import type { VariableMeasureLayout } from '../../contract/devices/scanner.ts';

const NOW = new Date('2025-06-15T12:00:00Z');

describe('AIM symbology identifiers (ISO/IEC 15424)', () => {
  it.each([
    [']E0', 'EAN-13', false],
    [']E4', 'EAN-8', false],
    [']E3', 'EAN-13 with add-on', false],
    [']C0', 'Code 128', false],
    [']C1', 'GS1-128', true],
    [']d1', 'Data Matrix', false],
    [']d2', 'GS1 DataMatrix', true],
    [']Q1', 'QR Code', false],
    [']Q3', 'GS1 QR Code', true],
    [']A0', 'Code 39', false],
    [']e0', 'GS1 DataBar', true],
    [']I1', 'Interleaved 2 of 5', false],
  ])('%s is %s', (aim, name, gs1) => {
    expect(describeAim(aim)).toEqual({ aim, symbology: name, gs1 });
  });
  it('names unknown identifiers instead of throwing', () => {
    expect(describeAim(']W9').symbology).toBe('unknown (]W9)');
  });
  it('splits only a well-formed prefix', () => {
    expect(splitAim(']E04006381333931')).toEqual({ aim: ']E0', rest: '4006381333931' });
    expect(splitAim(']E')).toBeUndefined();
    expect(splitAim('4006381333931')).toBeUndefined();
  });
});

describe('GTIN check digits (GS1 GenSpecs §7.9.1)', () => {
  it.each(['4006381333931', '96385074', '036000291452', '09506000134352', '00012345600012'])('%s is valid', (code) => {
    expect(hasValidCheckDigit(code)).toBe(true);
  });
  it('rejects a wrong check digit and non-digits', () => {
    expect(hasValidCheckDigit('4006381333932')).toBe(false);
    expect(hasValidCheckDigit('40063813339a1')).toBe(false);
    expect(gs1CheckDigit('629104150021')).toBe(3); // GS1 GenSpecs §7.9.1 worked example (GTIN-13 6291041500213)
  });
  it('SSCC example from GS1 GenSpecs §2.2.1 (00)106141411234567897', () => {
    expect(hasValidCheckDigit('106141411234567897')).toBe(true);
  });
  it('expands UPC-E to UPC-A (§5.2.2.4.2)', () => {
    expect(expandUpcE('04252614')).toBe('042100005264');
    expect(expandUpcE('01234565')).toBe('012345000065');
    expect(toGtin14('96385074')).toBe('00000096385074');
  });
});

describe('GS1 element strings (GS1 General Specifications §3, §7.8)', () => {
  it('fixed-length then FNC1-separated variable AIs: (01)(3103)(17)(10)', () => {
    const s = '0109506000134352' + '3103000195' + '17261231' + '10AB-123';
    const r = parseGs1(s, { now: NOW });
    expect(r.errors).toEqual([]);
    expect(r.fields).toEqual({ gtin: '09506000134352', netWeightKg: '0.195', expiry: '2026-12-31', batch: 'AB-123' });
    expect(r.elements.map((e) => e.ai)).toEqual(['01', '3103', '17', '10']);
    expect(r.elements[1]).toMatchObject({ raw: '000195', decimal: '0.195', unit: 'kg' });
  });
  it('GS ends a variable field before the next AI: (10)(21)(30)(37)', () => {
    const r = parseGs1(`10LOT7${GS}21SN99${GS}3012${GS}37144`, { now: NOW });
    expect(r.errors).toEqual([]);
    expect(r.fields).toEqual({ batch: 'LOT7', serial: 'SN99', variableCount: 12, count: 144 });
  });
  it('(00) SSCC, (02) content, (11)(13)(15) dates, (320n) lb, (3922) price, (3932) price with currency', () => {
    const s = `00106141411234567897` + `0209506000134352` + `11250101` + `13250200` + `15280200` + `3202001500` + `39220599`;
    const r = parseGs1(s, { now: NOW });
    expect(r.errors).toEqual([]);
    expect(r.fields).toMatchObject({
      sscc: '106141411234567897',
      contentGtin: '09506000134352',
      productionDate: '2025-01-01',
      packagingDate: '2025-02-28', // day 00 = last day of the month (§7.12)
      bestBefore: '2028-02-29', // leap year
      netWeightLb: '15.00',
      price: '5.99',
    });
    const withCurrency = parseGs1('3932978123450');
    expect(withCurrency.fields).toEqual({ price: '1234.50', priceCurrency: '978' });
    expect(withCurrency.elements[0]).toMatchObject({ ai: '3932', currency: '978', decimal: '1234.50' });
  });
  it('human-readable form with parentheses', () => {
    const r = parseGs1('(01)09506000134352(3103)000195(17)261231(10)ABC', { now: NOW });
    expect(r.errors).toEqual([]);
    expect(r.fields.netWeightKg).toBe('0.195');
  });
  it('reports, not throws: bad check digit, bad date, unknown AI, short fixed field', () => {
    expect(parseGs1('0109506000134353').errors).toEqual(['(01) check digit is wrong']);
    expect(parseGs1('17261332').errors[0]).toMatch(/not a valid YYMMDD/);
    expect(parseGs1('230000').errors[0]).toMatch(/unknown or invalid AI/);
    expect(parseGs1('01123').errors[0]).toMatch(/needs 14 characters/);
    expect(parseGs1(`10${'A'.repeat(21)}`).errors[0]).toMatch(/outside 1..20/);
  });
  it('century rule of §7.12 (sliding window around the current year)', () => {
    expect(gs1Date('760101', NOW)).toBe('1976-01-01'); // 51 ahead → last century
    expect(gs1Date('750101', NOW)).toBe('2075-01-01'); // 50 ahead → this century
    expect(gs1Date('300101', new Date('2080-01-01'))).toBe('2130-01-01'); // 50 behind → next century
    expect(gs1Date('310101', new Date('2080-01-01'))).toBe('2031-01-01');
    expect(gs1Date('250231', NOW)).toBeUndefined();
  });
  it('implied decimals are exact strings', () => {
    expect(impliedDecimal('000195', 3)).toBe('0.195');
    expect(impliedDecimal('001500', 3)).toBe('1.500');
    expect(impliedDecimal('000007', 5)).toBe('0.00007');
    expect(impliedDecimal('012345', 0)).toBe('12345');
  });
  it('encodeGs1 puts GS only after variable-length fields and round-trips', () => {
    const s = encodeGs1([
      ['01', '09506000134352'],
      ['10', 'ABC'],
      ['3103', '000195'],
      ['21', 'X1'],
    ]);
    expect(s).toBe(`0109506000134352` + `10ABC${GS}` + `3103000195` + `21X1`);
    expect(parseGs1(s).fields).toMatchObject({ batch: 'ABC', serial: 'X1', netWeightKg: '0.195' });
  });
});

describe('variable-measure EAN-13 (prefixes 20–29, price check digit GS1 GenSpecs §7.9.3)', () => {
  it('price check digit examples from the GS1 General Specifications', () => {
    expect(priceCheckDigit('2875')).toBe(9);
    expect(priceCheckDigit('14685')).toBe(6);
  });
  const price: VariableMeasureLayout = { prefix: '21', item: 5, value: 5, kind: 'price', hasPriceCheckDigit: false };
  const weight: VariableMeasureLayout = { prefix: '22', item: 4, value: 5, kind: 'weight', hasPriceCheckDigit: true };
  it('validates layouts', () => {
    expect(validateLayout(price)).toBeUndefined();
    expect(validateLayout({ ...price, item: 6 })).toMatch(/must be 12/);
  });
  it('decodes an embedded price to exact minor units', () => {
    const code = encodeVariableMeasure(price, '12345', '00345');
    expect(code).toBe('2112345003450');
    expect(decodeVariableMeasure(code, [price])).toEqual({ prefix: '21', item: '12345', lookupCode: '2112345000008', kind: 'price', value: '3.45', minor: 345 });
  });
  it('decodes an embedded weight with a price check digit to grams', () => {
    const code = encodeVariableMeasure(weight, '0042', '01234');
    const vm = decodeVariableMeasure(code, [weight]);
    expect(vm).toMatchObject({ kind: 'weight', value: '1.234', minor: 1234, item: '0042', priceCheckDigitValid: true });
    // Corrupt the price check digit but keep the EAN check digit valid.
    const body = code.slice(0, 6) + String((Number(code[6]) + 1) % 10) + code.slice(7, 12);
    const bad = body + String(gs1CheckDigit(body));
    expect(decodeVariableMeasure(bad, [weight])?.priceCheckDigitValid).toBe(false);
  });
  it('ignores prefixes without a configured layout', () => {
    expect(decodeVariableMeasure('2912345003457', [price])).toBeUndefined();
  });
});

describe('parseScan', () => {
  const layouts: VariableMeasureLayout[] = [{ prefix: '21', item: 5, value: 5, kind: 'price', hasPriceCheckDigit: false }];
  it('EAN-13 with AIM id and CR/LF', () => {
    expect(parseScan(Buffer.from(']E04006381333931\r\n'), { now: NOW, source: 'serial' })).toEqual({
      data: '4006381333931',
      symbology: 'EAN-13',
      aim: ']E0',
      gtin: '04006381333931',
      checkDigitValid: true,
      at: NOW.toISOString(),
      source: 'serial',
    });
  });
  it('UPC-A through ]E0 with a leading zero, EAN-8 through ]E4, add-on through ]E3', () => {
    expect(parseScan(']E00036000291452')).toMatchObject({ symbology: 'UPC-A', gtin: '00036000291452' });
    expect(parseScan(']E496385074')).toMatchObject({ symbology: 'EAN-8', gtin: '00000096385074' });
    expect(parseScan(']E3400638133393112')).toMatchObject({ addOn: '12', gtin: '04006381333931' });
  });
  it('GS1-128 (01)(3103)(17)(10) from ]C1', () => {
    const r = parseScan(`]C10109506000134352310300019517261231${'10'}LOT1`, { now: NOW });
    expect(r.symbology).toBe('GS1-128');
    expect(r.gtin).toBe('09506000134352');
    expect(r.gs1?.fields).toEqual({ gtin: '09506000134352', netWeightKg: '0.195', expiry: '2026-12-31', batch: 'LOT1' });
  });
  it('GS1 DataMatrix with GS separators and a leading FNC1-as-GS', () => {
    const r = parseScan(`]d2${GS}0109506000134352${'21'}ABC${GS}17261200`, { now: NOW });
    expect(r.symbology).toBe('GS1 DataMatrix');
    expect(r.gs1?.fields).toMatchObject({ serial: 'ABC', expiry: '2026-12-31' });
  });
  it('gsSubstitute maps a wedge-friendly separator back to GS', () => {
    const r = parseScan(`]Q3010950600013435210LOT~3103000195`, { gsSubstitute: '~' });
    expect(r.gs1?.fields).toMatchObject({ batch: 'LOT', netWeightKg: '0.195' });
  });
  it('variable-measure EAN-13 from config', () => {
    expect(parseScan(']E02112345003450', { variableMeasure: layouts }).variableMeasure).toMatchObject({ kind: 'price', value: '3.45', minor: 345 });
  });
  it('infers EAN/UPC without AIM id only when the check digit is right', () => {
    expect(parseScan('4006381333931')).toMatchObject({ symbology: 'EAN-13', aim: null });
    expect(parseScan('4006381333932')).toMatchObject({ symbology: 'unknown', aim: null });
    expect(parseScan('HELLO')).toEqual({ data: 'HELLO', symbology: 'unknown', aim: null });
  });
  it('strips configured prefix/suffix; rejects empty and oversized input', () => {
    expect(parseScan('STX]E04006381333931ETX', { prefix: 'STX', suffix: 'ETX' }).data).toBe('4006381333931');
    expect(() => parseScan('\r\n')).toThrow(ScanError);
    expect(() => parseScan('x'.repeat(9000))).toThrow(ScanError);
  });
  it('plain Code 128 and Code 39 keep their data untouched', () => {
    expect(parseScan(']C0ABC-123')).toEqual({ data: 'ABC-123', symbology: 'Code 128', aim: ']C0' });
    expect(parseScan(']A0CODE39')).toMatchObject({ symbology: 'Code 39' });
  });
});
