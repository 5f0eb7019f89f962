// Receipt and kitchen-ticket rendering: sale payload in, ESC/POS bytes out.
// Money stays in integer minor units until the last string conversion.
import type { SalePayload } from '../../contract/pos.ts';
import { EscPosBuilder } from './builder.ts';
import type { PrinterModel } from './models.ts';

// ------------------------------------------------------------ money

/** ISO 4217 minor-unit exponents that are not 2 (the POS itself only sells 2-decimal currencies today). */
const EXPONENT: Record<string, number> = { JPY: 0, KRW: 0, ISK: 0, CLP: 0, BHD: 3, KWD: 3, JOD: 3, OMR: 3, TND: 3 };
const SYMBOL: Record<string, string> = { EUR: '€', GBP: '£', USD: '$' };

export interface MoneyFormat {
  decimalSeparator?: string;
  /** Prefix the currency symbol (€) instead of the code where one is known. */
  symbol?: boolean;
}

/** Integer minor units to "1234.50" / "-0.05"; never goes through a float. */
export function formatAmount(minor: number, currency: string, fmt: MoneyFormat = {}): string {
  if (!Number.isSafeInteger(minor)) throw new RangeError(`amount must be a safe integer of minor units, got ${minor}`);
  const exp = EXPONENT[currency] ?? 2;
  const sign = minor < 0 ? '-' : '';
  const digits = String(Math.abs(minor)).padStart(exp + 1, '0');
  const whole = digits.slice(0, digits.length - exp);
  const frac = digits.slice(digits.length - exp);
  return exp === 0 ? `${sign}${whole}` : `${sign}${whole}${fmt.decimalSeparator ?? '.'}${frac}`;
}
export function formatMoney(minor: number, currency: string, fmt: MoneyFormat = {}): string {
  const amount = formatAmount(minor, currency, fmt);
  const sym = fmt.symbol === false ? undefined : SYMBOL[currency];
  return sym ? `${sym}${amount}` : `${currency} ${amount}`;
}

/** 1900 basis points -> "19%", 750 -> "7.5%". */
export function formatRate(bp: number, decimalSeparator = '.'): string {
  const whole = Math.trunc(bp / 100);
  const frac = String(bp % 100)
    .padStart(2, '0')
    .replace(/0+$/, '');
  return frac ? `${whole}${decimalSeparator}${frac}%` : `${whole}%`;
}

/** 750 g -> "0.750 kg". */
export function formatKg(grams: number, decimalSeparator = '.'): string {
  return `${Math.trunc(grams / 1000)}${decimalSeparator}${String(grams % 1000).padStart(3, '0')} kg`;
}

// ------------------------------------------------------------ sale id codes

/**
 * A UUID in CODE128 set C: the 128-bit value as 40 decimal digits (20 symbol
 * characters, ~255 modules) fits an 80 mm head at module width 2, where the
 * 36-character text form would need ~440 modules. saleIdFromDigits() inverts it.
 */
export function saleIdDigits(uuid: string): string {
  const hex = uuid.replaceAll('-', '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new RangeError(`not a UUID: ${uuid}`);
  return BigInt(`0x${hex}`).toString(10).padStart(40, '0');
}
export function saleIdFromDigits(digits: string): string {
  const hex = BigInt(digits).toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ------------------------------------------------------------ receipt

export interface StoreHeader {
  name: string;
  /** Address, phone, VAT id ... one printed line each. */
  lines?: string[];
  footer?: string[];
}

/** The sale as the `sale` event / SaleView carries it, plus its id and time. */
export type ReceiptSale = SalePayload & { id: string; recordedAt?: string };

export interface ReceiptOptions {
  store: StoreHeader;
  money?: MoneyFormat;
  /** Code printed at the bottom to find the sale again: QR (default when the model has it), CODE128, or none. */
  saleCode?: 'qr' | 'code128' | 'none';
  /** Text above the header for reprints ("COPY"). */
  banner?: string;
  /** Open the drawer after printing (cash sales): kick pin. */
  kickDrawer?: 2 | 5;
  /** Tax class -> printed letter; default A, B, C in the order of `taxes`. */
  taxLetters?: Record<string, string>;
}

export function renderReceipt(model: PrinterModel, sale: ReceiptSale, opts: ReceiptOptions): Buffer {
  const b = new EscPosBuilder(model).init();
  const cur = sale.currency;
  const fmt = opts.money ?? {};
  const amt = (n: number) => formatAmount(n, cur, fmt);
  const letters = opts.taxLetters ?? Object.fromEntries(sale.taxes.map((t, i) => [t.taxClass, String.fromCharCode(65 + (i % 26))]));

  if (opts.banner) b.line(opts.banner, { align: 'center', bold: true, width: 2, height: 2 }).plain();
  b.line(opts.store.name, { align: 'center', bold: true, width: 2, height: 2 });
  b.style({ width: 1, height: 1, bold: false });
  for (const l of opts.store.lines ?? []) b.wrap(l);
  b.line().style({ align: 'left' });
  if (sale.recordedAt) b.line(sale.recordedAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC'));
  b.pair('Sale', sale.id.slice(0, 8));
  b.rule();

  for (const line of sale.lines) {
    const letter = letters[line.taxClass] ?? '';
    if (line.weightGrams !== undefined) {
      b.wrap(line.name);
      b.pair(`  ${formatKg(line.weightGrams, fmt.decimalSeparator)} x ${amt(line.unitPrice)}/kg`, `${amt(line.amount)} ${letter}`);
    } else if (line.qty === 1) {
      b.pair(line.name, `${amt(line.amount)} ${letter}`);
    } else {
      b.wrap(line.name);
      b.pair(`  ${line.qty} x ${amt(line.unitPrice)}`, `${amt(line.amount)} ${letter}`);
    }
    if (line.priceOverridden) b.line('  (price override)');
  }
  b.rule();
  b.pair('TOTAL', formatMoney(sale.total, cur, fmt), { bold: true, height: 2 });
  b.style({ bold: false, height: 1 });
  for (const t of sale.tenders) b.pair(t.type === 'cash' ? 'Cash' : `Card ${t.approvalRef}`, amt(t.amount));
  if (sale.change > 0) b.pair('Change', amt(sale.change), { bold: true });
  b.style({ bold: false }).line();

  // Tax summary: net + tax = gross per class, as the journal computed it.
  b.line(pad(['', 'Rate', 'Net', 'Tax', 'Gross'], b.columns));
  for (const t of sale.taxes) {
    b.line(pad([letters[t.taxClass] ?? t.taxClass, formatRate(t.rateBp, fmt.decimalSeparator), amt(t.net), amt(t.tax), amt(t.gross)], b.columns));
  }
  b.line();

  const code = opts.saleCode ?? (model.qr ? 'qr' : 'code128');
  b.style({ align: 'center' });
  if (code === 'qr') b.qr(sale.id, { moduleSize: model.dots >= 512 ? 6 : 4 });
  else if (code === 'code128') b.code128(saleIdDigits(sale.id), { set: 'C' });
  if (code !== 'none') b.line();
  b.wrap(sale.id);
  for (const l of opts.store.footer ?? []) b.wrap(l);
  b.plain();
  if (opts.kickDrawer !== undefined) b.drawerKick(opts.kickDrawer);
  return b.cut().build();
}

/** Columns: first left-aligned, the rest right-aligned, evenly spread. */
function pad(cells: string[], width: number): string {
  const first = cells[0] ?? '';
  const rest = cells.slice(1);
  const each = Math.max(1, Math.floor((width - 4) / Math.max(1, rest.length)));
  return (first.padEnd(4).slice(0, 4) + rest.map((c) => c.padStart(each)).join('')).slice(0, width);
}

// ------------------------------------------------------------ kitchen ticket

export interface KitchenTicket {
  /** Order number or table, printed huge. */
  order: string;
  station?: string;
  lines: { name: string; qty: number; group?: string; notes?: string[] }[];
  note?: string;
  /** ISO time. */
  at?: string;
}

/** Lines grouped (starters, mains ...) in big text; quantities first so the cook reads them. */
export function renderKitchenTicket(model: PrinterModel, ticket: KitchenTicket): Buffer {
  const b = new EscPosBuilder(model).init();
  b.line(ticket.order, { align: 'center', bold: true, width: 3, height: 3 });
  b.style({ width: 1, height: 1, bold: false });
  if (ticket.station) b.line(ticket.station);
  if (ticket.at) b.line(ticket.at.replace('T', ' ').replace(/\.\d+Z$|Z$/, ''));
  b.style({ align: 'left' }).rule('=');
  const groups = new Map<string, KitchenTicket['lines']>();
  for (const l of ticket.lines) {
    const g = l.group ?? '';
    groups.set(g, [...(groups.get(g) ?? []), l]);
  }
  for (const [group, lines] of groups) {
    if (group) b.line(group.toUpperCase(), { bold: true, underline: true, width: 1, height: 1 }).style({ underline: false, bold: false });
    for (const l of lines) {
      b.wrap(`${l.qty} x ${l.name}`, { width: 2, height: 2, bold: true });
      b.style({ width: 1, height: 1, bold: false });
      for (const n of l.notes ?? []) b.line(`   > ${n}`);
    }
  }
  if (ticket.note) b.rule('=').wrap(ticket.note, { bold: true });
  return b.plain().cut().build();
}

/** The pairing slip a box prints while it waits for enrolment approval: the code big, the operator's command small. */
export function renderPairingSlip(model: PrinterModel, code: string, lines: string[]): Buffer {
  const b = new EscPosBuilder(model).init();
  b.line('tillbox pairing code', { align: 'center', bold: true });
  b.feed(1).line(code, { align: 'center', bold: true, width: 3, height: 3 });
  b.plain().feed(1);
  for (const l of lines) b.wrap(l);
  return b.feed(2).cut().build();
}
