// One pure function from "what a scanner sent" to the scan payload. The
// devices process calls it for every code; the POS calls it for codes typed in
// or received from a kiosk. It never throws on content: undecodable data is
// published as symbology 'unknown' (a till can still look the string up),
// and only empty or oversized input is rejected.
import { DeviceErrorCode, TillboxError } from '../../contract/errors.ts';
import type { ScanPayload, VariableMeasureLayout } from '../../contract/devices/scanner.ts';
import { describeAim, splitAim } from './aim.ts';
import { expandUpcE, hasValidCheckDigit, toGtin14 } from './ean.ts';
import { GS, parseGs1 } from './gs1.ts';
import { decodeVariableMeasure } from './variable-measure.ts';

export const MAX_SCAN_LENGTH = 8192;

export interface ParseScanOptions {
  /** Variable-measure EAN-13 layouts by prefix (from config, per country). */
  variableMeasure?: readonly VariableMeasureLayout[];
  /** Configured scanner prefix/suffix to strip (besides trailing CR/LF). */
  prefix?: string;
  suffix?: string;
  /**
   * Character(s) the scanner sends in place of FNC1/GS when it cannot send
   * ASCII 29 (keyboard wedges often map GS to a printable or drop it), e.g. '~'.
   */
  gsSubstitute?: string;
  /** Reference date for GS1 century resolution and `at`. */
  now?: Date;
  source?: string;
}

export class ScanError extends TillboxError<typeof DeviceErrorCode.ScanInvalid> {
  constructor(message: string) {
    super(DeviceErrorCode.ScanInvalid, message);
    this.name = 'ScanError';
  }
}

export function parseScan(raw: Buffer | Uint8Array | string, opts: ParseScanOptions = {}): ScanPayload {
  if (raw.length > MAX_SCAN_LENGTH) throw new ScanError(`scan of ${raw.length} bytes exceeds ${MAX_SCAN_LENGTH}`);
  // latin1 keeps bytes 1:1 (GS1 data is ASCII; anything else is shown, not lost).
  let text = typeof raw === 'string' ? raw : Buffer.from(raw).toString('latin1');
  text = text.replace(/[\r\n]+$/, '');
  if (opts.prefix && text.startsWith(opts.prefix)) text = text.slice(opts.prefix.length);
  if (opts.suffix && text.endsWith(opts.suffix)) text = text.slice(0, -opts.suffix.length);
  if (opts.gsSubstitute) text = text.split(opts.gsSubstitute).join(GS);
  if (text.length === 0) throw new ScanError('empty scan');

  const base: Pick<ScanPayload, 'at' | 'source'> = {};
  if (opts.now) base.at = opts.now.toISOString();
  if (opts.source) base.source = opts.source;
  const gs1opts = opts.now ? { now: opts.now } : {};

  const split = splitAim(text);
  if (split) {
    const info = describeAim(split.aim);
    const data = split.rest;
    const out: ScanPayload = { ...base, data, symbology: info.symbology, aim: split.aim };
    if (info.gs1) {
      // Some scanners also send the leading FNC1 as GS; it carries no data.
      out.gs1 = parseGs1(data.startsWith(GS) ? data.slice(1) : data, gs1opts);
      if (out.gs1.fields.gtin) out.gtin = out.gs1.fields.gtin;
    } else if (split.aim[1] === 'E') {
      decorateEan(out, data, split.aim[2]!, opts);
    }
    return out;
  }

  // No AIM identifier: infer conservatively.
  if (/^[0-9]+$/.test(text) && [8, 12, 13].includes(text.length) && hasValidCheckDigit(text)) {
    const out: ScanPayload = { ...base, data: text, symbology: text.length === 8 ? 'EAN-8' : text.length === 12 ? 'UPC-A' : 'EAN-13', aim: null };
    decorateEan(out, text, text.length === 8 ? '4' : '0', opts);
    return out;
  }
  if (text.startsWith(GS) || /^\([0-9]{2,4}\)/.test(text)) {
    const gs1 = parseGs1(text.startsWith(GS) ? text.slice(1) : text, gs1opts);
    if (gs1.elements.length > 0 && gs1.errors.length === 0) {
      const out: ScanPayload = { ...base, data: text.startsWith(GS) ? text.slice(1) : text, symbology: 'GS1', aim: null, gs1 };
      if (gs1.fields.gtin) out.gtin = gs1.fields.gtin;
      return out;
    }
  }
  return { ...base, data: text, symbology: 'unknown', aim: null };
}

function decorateEan(out: ScanPayload, data: string, modifier: string, opts: ParseScanOptions): void {
  let main = data;
  if (modifier === '3' && /^[0-9]{15}$|^[0-9]{18}$/.test(data)) {
    main = data.slice(0, 13);
    out.addOn = data.slice(13);
  } else if (modifier === '1' || modifier === '2') {
    if (/^[0-9]{2}([0-9]{3})?$/.test(data)) out.addOn = data;
    return;
  }
  if (!/^[0-9]+$/.test(main)) return;
  if (modifier === '0') {
    if (main.length === 13 && main.startsWith('0')) out.symbology = 'UPC-A';
    else if (main.length === 12) out.symbology = 'UPC-A';
    else if (main.length === 8) out.symbology = 'UPC-E';
  }
  const gtinSource = out.symbology === 'UPC-E' ? expandUpcE(main) : main;
  out.checkDigitValid = hasValidCheckDigit(main);
  const gtin = gtinSource && out.checkDigitValid ? toGtin14(gtinSource) : undefined;
  if (gtin) out.gtin = gtin;
  if (main.length === 13 && main.startsWith('2') && opts.variableMeasure?.length) {
    const vm = decodeVariableMeasure(main, opts.variableMeasure);
    if (vm) out.variableMeasure = vm;
  }
}
