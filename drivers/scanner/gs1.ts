// GS1 element strings (GS1 General Specifications, Release 24, §3 "GS1
// Application Identifier definitions" and §7.8 "Processing of data from a GS1
// symbology"). FNC1 in first position is signalled by the AIM identifier
// (]C1, ]d2, ]Q3, ]e0); an FNC1 used as a separator after a variable-length
// field is transmitted as GS (ASCII 29, §7.8.5.1). AIs whose first two digits
// are in the "predefined length" table (§7.8.5, Figure 7.8.5-2) are never
// followed by a separator; all others end at GS or at the end of data.
import type { Gs1Data, Gs1Element, Gs1Fields } from '../../contract/devices/scanner.ts';
import { hasValidCheckDigit } from './ean.ts';

export const GS = '\x1d';

type Kind = 'text' | 'digits' | 'gtin' | 'sscc' | 'date' | 'decimal' | 'count' | 'isoDecimal';

interface AiDef {
  title: string;
  /** Fixed data length, or undefined for variable. */
  fixed?: number;
  /** Maximum data length for variable fields. */
  max?: number;
  numeric: boolean;
  kind: Kind;
  field?: keyof Gs1Fields;
  currencyField?: keyof Gs1Fields;
  unit?: string;
}

const T: Record<string, AiDef> = {};
function def(ai: string, d: AiDef): void {
  T[ai] = d;
}
const n = (fixed: number, title: string, kind: Kind = 'digits', field?: keyof Gs1Fields): AiDef => ({ title, fixed, numeric: true, kind, ...(field ? { field } : {}) });
const nv = (max: number, title: string, kind: Kind = 'digits', field?: keyof Gs1Fields): AiDef => ({ title, max, numeric: true, kind, ...(field ? { field } : {}) });
const x = (max: number, title: string, field?: keyof Gs1Fields): AiDef => ({ title, max, numeric: false, kind: 'text', ...(field ? { field } : {}) });

def('00', n(18, 'SSCC', 'sscc', 'sscc'));
def('01', n(14, 'GTIN', 'gtin', 'gtin'));
def('02', n(14, 'CONTENT', 'gtin', 'contentGtin'));
def('03', n(14, 'MTO GTIN', 'gtin'));
def('10', x(20, 'BATCH/LOT', 'batch'));
def('11', n(6, 'PROD DATE', 'date', 'productionDate'));
def('12', n(6, 'DUE DATE', 'date'));
def('13', n(6, 'PACK DATE', 'date', 'packagingDate'));
def('15', n(6, 'BEST BEFORE or BEST BY', 'date', 'bestBefore'));
def('16', n(6, 'SELL BY', 'date', 'sellBy'));
def('17', n(6, 'USE BY OR EXPIRY', 'date', 'expiry'));
def('20', n(2, 'VARIANT', 'digits', 'variant'));
def('21', x(20, 'SERIAL', 'serial'));
def('22', x(20, 'CPV'));
def('235', x(28, 'TPX'));
def('240', x(30, 'ADDITIONAL ID'));
def('241', x(30, 'CUST. PART No.'));
def('242', nv(6, 'MTO VARIANT'));
def('250', x(30, 'SECONDARY SERIAL'));
def('251', x(30, 'REF. TO SOURCE'));
def('253', x(30, 'GDTI'));
def('254', x(20, 'GLN EXTENSION COMPONENT'));
def('255', nv(25, 'GCN'));
def('30', nv(8, 'VAR. COUNT', 'count', 'variableCount'));
def('37', nv(8, 'COUNT', 'count', 'count'));
def('400', x(30, 'ORDER NUMBER'));
def('401', x(30, 'GINC'));
def('402', n(17, 'GSIN'));
def('403', x(30, 'ROUTE'));
for (const [ai, title] of [
  ['410', 'SHIP TO LOC'],
  ['411', 'BILL TO'],
  ['412', 'PURCHASE FROM'],
  ['413', 'SHIP FOR LOC'],
  ['414', 'LOC No.'],
  ['415', 'PAY TO'],
  ['416', 'PROD/SERV LOC'],
  ['417', 'PARTY'],
] as const)
  def(ai, n(13, title));
def('420', x(20, 'SHIP TO POST'));
def('421', x(12, 'SHIP TO POST'));
def('422', n(3, 'ORIGIN'));
def('7003', n(10, 'EXPIRY TIME'));
def('8005', n(6, 'PRICE PER UNIT'));
def('8020', x(25, 'REF No.'));
def('8200', x(70, 'PRODUCT URL'));
def('90', x(30, 'INTERNAL'));
for (let i = 91; i <= 99; i++) def(String(i), x(90, 'INTERNAL'));

// Measures: 4-digit AIs whose last digit is the number of decimals (§3.6).
const MEASURES: [string, string, string, keyof Gs1Fields | undefined][] = [
  ['310', 'NET WEIGHT (kg)', 'kg', 'netWeightKg'],
  ['311', 'LENGTH (m)', 'm', undefined],
  ['312', 'WIDTH (m)', 'm', undefined],
  ['313', 'HEIGHT (m)', 'm', undefined],
  ['314', 'AREA (m²)', 'm2', undefined],
  ['315', 'NET VOLUME (l)', 'l', undefined],
  ['316', 'NET VOLUME (m³)', 'm3', undefined],
  ['320', 'NET WEIGHT (lb)', 'lb', 'netWeightLb'],
  ['330', 'GROSS WEIGHT (kg)', 'kg', 'grossWeightKg'],
];
for (const [base, title, unit, field] of MEASURES) for (let d = 0; d <= 5; d++) def(base + d, { title, fixed: 6, numeric: true, kind: 'decimal', unit, ...(field ? { field } : {}) });
// Amounts and prices (§3.6.x): variable n..15, last AI digit = decimals; 391n/393n lead with ISO 4217 numeric.
for (let d = 0; d <= 9; d++) {
  def('390' + d, { title: 'AMOUNT', max: 15, numeric: true, kind: 'decimal', field: 'amount' });
  def('391' + d, { title: 'AMOUNT', max: 18, numeric: true, kind: 'isoDecimal', field: 'amount', currencyField: 'amountCurrency' });
  def('392' + d, { title: 'PRICE', max: 15, numeric: true, kind: 'decimal', field: 'price' });
  def('393' + d, { title: 'PRICE', max: 18, numeric: true, kind: 'isoDecimal', field: 'price', currencyField: 'priceCurrency' });
}

/** First two digits of AIs with a predefined total length (§7.8.5 Figure 7.8.5-2): no FNC1 follows them. */
const PREDEFINED = new Set(['00', '01', '02', '03', '04', '11', '12', '13', '14', '15', '16', '17', '18', '19', '20', '31', '32', '33', '34', '35', '36', '41']);

export function isPredefinedLength(ai: string): boolean {
  return PREDEFINED.has(ai.slice(0, 2));
}

export function aiDefinition(ai: string): Readonly<AiDef> | undefined {
  return T[ai];
}

/** Digits with `decimals` implied decimal places → exact decimal string ('000195', 3 → '0.195'). */
export function impliedDecimal(digits: string, decimals: number): string {
  const stripped = digits.replace(/^0+(?=[0-9])/, '');
  if (decimals === 0) return stripped;
  const padded = stripped.padStart(decimals + 1, '0');
  return `${padded.slice(0, -decimals)}.${padded.slice(-decimals)}`;
}

export interface Gs1Options {
  /** Reference date for the century rule (§7.12); default now. */
  now?: Date;
}

/**
 * YYMMDD → ISO date. Century per GS1 GenSpecs §7.12: if YY is 51–99 years
 * ahead of the current year it is last century, if 50–99 behind it is next
 * century, else this century. Day 00 means the last day of the month.
 */
export function gs1Date(yymmdd: string, now: Date = new Date()): string | undefined {
  if (!/^[0-9]{6}$/.test(yymmdd)) return undefined;
  const yy = Number(yymmdd.slice(0, 2));
  const mm = Number(yymmdd.slice(2, 4));
  let dd = Number(yymmdd.slice(4, 6));
  if (mm < 1 || mm > 12) return undefined;
  const current = now.getUTCFullYear();
  const diff = yy - (current % 100);
  let century = current - (current % 100);
  if (diff >= 51) century -= 100;
  else if (diff <= -50) century += 100;
  const year = century + yy;
  const last = new Date(Date.UTC(year, mm, 0)).getUTCDate();
  if (dd === 0) dd = last;
  if (dd > last) return undefined;
  return `${String(year).padStart(4, '0')}-${String(mm).padStart(2, '0')}-${String(dd).padStart(2, '0')}`;
}

// GS1 AI encodable character set 82 (§7.11 Figure 7.11-1).
const CSET82 = /^[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*$/;

function findAi(s: string, pos: number): string | undefined {
  for (const len of [2, 3, 4]) {
    const ai = s.slice(pos, pos + len);
    if (ai.length === len && T[ai]) return ai;
  }
  return undefined;
}

/**
 * Parse a GS1 element string as transmitted after an FNC1-first AIM id
 * ("0109506000134352" GS "10ABC"), or in human-readable form
 * ("(01)09506000134352(10)ABC"). Never throws; problems go to `errors`, and
 * parsing stops at the first structural one (lengths are unknowable after it).
 */
export function parseGs1(input: string, opts: Gs1Options = {}): Gs1Data {
  const out: Gs1Data = { elements: [], fields: {}, errors: [] };
  const pairs: [string, string][] = [];
  if (input.startsWith('(')) {
    const re = /\(([0-9]{2,4})\)([^(]*)/gy;
    let m: RegExpExecArray | null;
    let end = 0;
    while ((m = re.exec(input))) {
      pairs.push([m[1]!, m[2]!]);
      end = re.lastIndex;
    }
    if (end !== input.length) out.errors.push(`cannot read human-readable element string at offset ${end}`);
  } else {
    let pos = 0;
    while (pos < input.length) {
      if (input[pos] === GS) {
        pos++;
        continue;
      }
      const ai = findAi(input, pos);
      if (!ai) {
        out.errors.push(`unknown or invalid AI at offset ${pos} (${JSON.stringify(input.slice(pos, pos + 4))})`);
        break;
      }
      const d = T[ai]!;
      pos += ai.length;
      let value: string;
      if (d.fixed !== undefined) {
        value = input.slice(pos, pos + d.fixed);
        pos += value.length;
        if (value.length !== d.fixed) {
          out.errors.push(`(${ai}) needs ${d.fixed} characters, got ${value.length}`);
          break;
        }
      } else {
        const gs = input.indexOf(GS, pos);
        const end = gs < 0 ? input.length : gs;
        value = input.slice(pos, end);
        pos = end;
      }
      pairs.push([ai, value]);
    }
  }
  for (const [ai, raw] of pairs) {
    const d = T[ai];
    if (!d) {
      out.errors.push(`unknown AI (${ai})`);
      continue;
    }
    const el: Gs1Element = { ai, title: d.title, raw };
    out.elements.push(el);
    if (d.fixed !== undefined && raw.length !== d.fixed) {
      out.errors.push(`(${ai}) needs ${d.fixed} characters, got ${raw.length}`);
      continue;
    }
    if (d.max !== undefined && (raw.length < 1 || raw.length > d.max)) {
      out.errors.push(`(${ai}) length ${raw.length} outside 1..${d.max}`);
      continue;
    }
    if (d.numeric ? !/^[0-9]+$/.test(raw) : !CSET82.test(raw)) {
      out.errors.push(`(${ai}) has characters outside ${d.numeric ? 'digits' : 'GS1 character set 82'}`);
      continue;
    }
    const set = (v: string | number): void => {
      if (d.field) (out.fields as Record<string, string | number>)[d.field] = v;
    };
    switch (d.kind) {
      case 'gtin':
      case 'sscc':
        if (!hasValidCheckDigit(raw)) out.errors.push(`(${ai}) check digit is wrong`);
        set(raw);
        break;
      case 'date': {
        const iso = gs1Date(raw, opts.now);
        if (!iso) out.errors.push(`(${ai}) ${raw} is not a valid YYMMDD date`);
        else {
          el.date = iso;
          set(iso);
        }
        break;
      }
      case 'decimal': {
        el.decimal = impliedDecimal(raw, Number(ai[3]));
        if (d.unit) el.unit = d.unit;
        set(el.decimal);
        break;
      }
      case 'isoDecimal': {
        if (raw.length < 4) {
          out.errors.push(`(${ai}) needs a 3-digit currency and an amount`);
          break;
        }
        el.currency = raw.slice(0, 3);
        el.decimal = impliedDecimal(raw.slice(3), Number(ai[3]));
        set(el.decimal);
        if (d.currencyField) (out.fields as Record<string, string>)[d.currencyField] = el.currency;
        break;
      }
      case 'count':
        el.count = Number(raw);
        set(el.count);
        break;
      default:
        set(raw);
    }
  }
  return out;
}

/** Build a transmitted element string (GS after variable-length fields), for simulators and tests. */
export function encodeGs1(elements: readonly [ai: string, value: string][]): string {
  let s = '';
  elements.forEach(([ai, value], i) => {
    s += ai + value;
    const variable = T[ai]?.fixed === undefined || !isPredefinedLength(ai);
    if (variable && i < elements.length - 1) s += GS;
  });
  return s;
}
