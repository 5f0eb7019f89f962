// Byte stream → raw code strings, one small decoder per way a scanner talks
// (serialport's "one tiny parser per framing", STYLE.md item 2). Each is pure,
// synchronous and bounded: push() returns the codes completed by this chunk,
// and no input can grow an internal buffer past MAX_SCAN_LENGTH.
import { MAX_SCAN_LENGTH } from './parse-scan.ts';

export interface CodeDecoder {
  /** Feed one transport chunk (for HID: exactly one input report). */
  push(chunk: Buffer): string[];
  /** Codes dropped because they were too long or malformed (for diagnostics). */
  readonly dropped: number;
  /** Characters/bytes held for an unfinished code (bounded by MAX_SCAN_LENGTH). */
  readonly buffered: number;
  reset(): void;
}

// ---------------------------------------------------------------------------
// Serial / CDC-ACM: lines ended by CR, LF or CR LF (or a configured suffix).

export interface LineDecoderOptions {
  /** Terminator bytes; default CR or LF (either ends a line, CR LF counts once). */
  terminator?: string;
  /** Configured scanner prefix to strip (optional). */
  prefix?: string;
}

export class LineDecoder implements CodeDecoder {
  readonly #terminator: string | undefined;
  readonly #prefix: string;
  #buf = '';
  #dropping = false;
  dropped = 0;

  constructor(opts: LineDecoderOptions = {}) {
    if (opts.terminator !== undefined && opts.terminator.length === 0) throw new TypeError('terminator must not be empty');
    this.#terminator = opts.terminator;
    this.#prefix = opts.prefix ?? '';
  }

  push(chunk: Buffer): string[] {
    const out: string[] = [];
    const text = chunk.toString('latin1');
    let start = 0;
    for (;;) {
      let end: number;
      let len: number;
      if (this.#terminator) {
        // The terminator may straddle chunks: search in buffer + text.
        const joined = this.#buf + text.slice(start);
        const i = joined.indexOf(this.#terminator);
        if (i < 0) break;
        const line = joined.slice(0, i);
        this.#emit(line, out);
        const consumedFromText = i + this.#terminator.length - this.#buf.length;
        this.#buf = '';
        start += consumedFromText;
        continue;
      } else {
        end = -1;
        for (let k = start; k < text.length; k++) {
          const c = text.charCodeAt(k);
          if (c === 13 || c === 10) {
            end = k;
            break;
          }
        }
        len = 1;
      }
      if (end < 0) break;
      this.#emit(this.#buf + text.slice(start, end), out);
      this.#buf = '';
      start = end + len;
    }
    this.#append(text.slice(start));
    return out;
  }

  #emit(line: string, out: string[]): void {
    if (this.#dropping) {
      this.#dropping = false;
      return;
    }
    if (line.length === 0) return; // the LF of CR LF
    out.push(line.startsWith(this.#prefix) ? line.slice(this.#prefix.length) : line);
  }

  #append(rest: string): void {
    if (this.#dropping) return;
    if (this.#buf.length + rest.length > MAX_SCAN_LENGTH) {
      // Garbage with no terminator: drop everything up to the next one.
      this.#buf = '';
      this.#dropping = true;
      this.dropped++;
      return;
    }
    this.#buf += rest;
  }

  get buffered(): number {
    return this.#buf.length;
  }

  reset(): void {
    this.#buf = '';
    this.#dropping = false;
  }
}

// ---------------------------------------------------------------------------
// HID POS (USB HID Point of Sale Usage Tables 1.02, §3 Bar Code Scanner page
// 0x8C: the Scanned Data Report carries Symbology Identifier 1–3 (usages
// 0xFB–0xFD), Decoded Data (0xFE) and Decode Data Continued (0xFF)).
// The input report that scanners implement (e.g. Honeywell, Zebra, Access-IS
// manuals, "HID POS" mode), 64 bytes with report ID:
//   [0]    report ID (0x02)
//   [1]    number of valid bytes in the data field
//   [2..4] AIM symbology identifier, ']' + code + modifier (0 when disabled)
//   [5..60] decoded data, 56 bytes, zero padded
//   [61..62] vendor-specific symbology id, reserved
//   [63]   bit 0: Decode Data Continued — more reports follow for this code

export interface HidPosOptions {
  reportId?: number;
  /** Data bytes per report (56 in the common 64-byte layout). */
  dataSize?: number;
}

export class HidPosDecoder implements CodeDecoder {
  readonly #reportId: number;
  readonly #dataSize: number;
  #parts: Buffer[] = [];
  #size = 0;
  #aim = '';
  dropped = 0;

  constructor(opts: HidPosOptions = {}) {
    this.#reportId = opts.reportId ?? 0x02;
    this.#dataSize = opts.dataSize ?? 56;
    if (!Number.isInteger(this.#reportId) || this.#reportId < 0 || this.#reportId > 255) throw new TypeError('reportId must be a byte');
    if (!Number.isInteger(this.#dataSize) || this.#dataSize < 1 || this.#dataSize > 250) throw new TypeError('dataSize must be 1..250');
  }

  push(report: Buffer): string[] {
    const flagsAt = 5 + this.#dataSize + 2;
    if (report.length < 5 || report[0] !== this.#reportId) return []; // other reports (status, feature echoes)
    const len = report[1]!;
    if (len > this.#dataSize || report.length < 5 + len) {
      this.dropped++;
      this.reset();
      return [];
    }
    if (this.#parts.length === 0) {
      const s1 = report[2]!;
      this.#aim = s1 === 0x5d ? report.subarray(2, 5).toString('latin1') : '';
    }
    this.#parts.push(Buffer.from(report.subarray(5, 5 + len)));
    this.#size += len;
    if (this.#size > MAX_SCAN_LENGTH) {
      this.dropped++;
      this.reset();
      return [];
    }
    const more = report.length > flagsAt && (report[flagsAt]! & 0x01) === 1;
    if (more) return [];
    const data = Buffer.concat(this.#parts).toString('latin1');
    const code = this.#aim + data;
    this.reset();
    return code.length > 0 ? [code] : [];
  }

  get buffered(): number {
    return this.#size;
  }

  reset(): void {
    this.#parts = [];
    this.#size = 0;
    this.#aim = '';
  }
}

/** Build HID POS reports for a code (simulators, fixtures). */
export function encodeHidPosReports(aim: string, data: string, opts: HidPosOptions = {}): Buffer[] {
  const reportId = opts.reportId ?? 0x02;
  const size = opts.dataSize ?? 56;
  const bytes = Buffer.from(data, 'latin1');
  const out: Buffer[] = [];
  for (let off = 0; off === 0 || off < bytes.length; off += size) {
    const r = Buffer.alloc(5 + size + 3);
    const part = bytes.subarray(off, off + size);
    r[0] = reportId;
    r[1] = part.length;
    if (aim) r.write(aim.slice(0, 3), 2, 'latin1');
    part.copy(r, 5);
    r[5 + size + 2] = off + size < bytes.length ? 1 : 0;
    out.push(r);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Keyboard wedge: boot-protocol keyboard reports (HID 1.11 Appendix B.1:
// [modifiers][reserved][6 key usages]) → characters through a layout.
// Key usages from the HID Usage Tables, Keyboard/Keypad page (0x07).

const MOD_LCTRL = 0x01;
const MOD_LSHIFT = 0x02;
const MOD_RCTRL = 0x10;
const MOD_RSHIFT = 0x20;
const MOD_RALT = 0x40; // AltGr on European layouts

export const KEY_ENTER = 0x28;
export const KEY_KP_ENTER = 0x58;
export const KEY_TAB = 0x2b;

/** usage → [plain, shifted, altgr?] */
type KeyMap = Record<number, [string, string, string?]>;

function usLayout(): KeyMap {
  const m: KeyMap = {};
  for (let i = 0; i < 26; i++) {
    const c = String.fromCharCode(97 + i);
    m[0x04 + i] = [c, c.toUpperCase()];
  }
  const digits = '1234567890';
  const shifted = '!@#$%^&*()';
  for (let i = 0; i < 10; i++) m[0x1e + i] = [digits[i]!, shifted[i]!];
  Object.assign(m, {
    0x2c: [' ', ' '],
    0x2d: ['-', '_'],
    0x2e: ['=', '+'],
    0x2f: ['[', '{'],
    0x30: [']', '}'],
    0x31: ['\\', '|'],
    0x32: ['#', '~'],
    0x33: [';', ':'],
    0x34: ["'", '"'],
    0x35: ['`', '~'],
    0x36: [',', '<'],
    0x37: ['.', '>'],
    0x38: ['/', '?'],
    0x64: ['\\', '|'],
  } satisfies KeyMap);
  // Keypad (scanners in "keypad emulation" mode send digits here).
  const kp = '1234567890';
  for (let i = 0; i < 10; i++) m[0x59 + i] = [kp[i]!, kp[i]!];
  Object.assign(m, { 0x54: ['/', '/'], 0x55: ['*', '*'], 0x56: ['-', '-'], 0x57: ['+', '+'], 0x63: ['.', '.'] } satisfies KeyMap);
  return m;
}

function deLayout(): KeyMap {
  const m = usLayout();
  // QWERTZ: Y and Z swap; number row and punctuation per DIN 2137-1.
  m[0x1c] = ['z', 'Z'];
  m[0x1d] = ['y', 'Y'];
  const shifted = '!"§$%&/()=';
  for (let i = 0; i < 10; i++) m[0x1e + i] = [m[0x1e + i]![0], shifted[i]!];
  m[0x1f] = ['2', '"', '²'];
  m[0x20] = ['3', '§', '³'];
  m[0x24] = ['7', '/', '{'];
  m[0x25] = ['8', '(', '['];
  m[0x26] = ['9', ')', ']'];
  m[0x27] = ['0', '=', '}'];
  m[0x14] = ['q', 'Q', '@'];
  m[0x08] = ['e', 'E', '€'];
  m[0x10] = ['m', 'M', 'µ'];
  Object.assign(m, {
    0x2d: ['ß', '?', '\\'],
    0x2e: ['´', '`'],
    0x2f: ['ü', 'Ü'],
    0x30: ['+', '*', '~'],
    0x31: ['#', "'"],
    0x32: ['#', "'"],
    0x33: ['ö', 'Ö'],
    0x34: ['ä', 'Ä'],
    0x35: ['^', '°'],
    0x36: [',', ';'],
    0x37: ['.', ':'],
    0x38: ['-', '_'],
    0x64: ['<', '>', '|'],
  } satisfies KeyMap);
  return m;
}

const LAYOUTS: Record<string, () => KeyMap> = { us: usLayout, de: deLayout };
export const KEYBOARD_LAYOUTS = Object.keys(LAYOUTS);
const US = usLayout();

export interface KeyboardWedgeOptions {
  /** 'us' (default) or 'de': must match the keyboard country the scanner is set to. */
  layout?: string;
  /** Keys that end a code; default Enter and keypad Enter. Add KEY_TAB for scanners set to Tab. */
  terminators?: readonly number[];
  /** Report ID to expect before the 8 boot bytes (composite devices), or none. */
  reportId?: number;
}

export class KeyboardWedgeDecoder implements CodeDecoder {
  readonly #map: KeyMap;
  readonly #terminators: ReadonlySet<number>;
  readonly #reportId: number | undefined;
  #down = new Set<number>();
  #text = '';
  #dropping = false;
  dropped = 0;

  constructor(opts: KeyboardWedgeOptions = {}) {
    const layout = opts.layout ?? 'us';
    const make = LAYOUTS[layout];
    if (!make) throw new TypeError(`unknown keyboard layout ${JSON.stringify(layout)} (known: ${KEYBOARD_LAYOUTS.join(', ')})`);
    this.#map = make();
    this.#terminators = new Set(opts.terminators ?? [KEY_ENTER, KEY_KP_ENTER]);
    this.#reportId = opts.reportId;
  }

  push(report: Buffer): string[] {
    let r = report;
    if (this.#reportId !== undefined) {
      if (r[0] !== this.#reportId) return [];
      r = r.subarray(1);
    }
    if (r.length < 8) return [];
    const mods = r[0]!;
    const keys = new Set<number>();
    for (let i = 2; i < 8; i++) {
      const k = r[i]!;
      if (k > 0x03) keys.add(k); // 0x01 = ErrorRollOver, 0x02/0x03 = errors (HID Usage Tables §10)
    }
    if (r[2] === 0x01) return []; // rollover: key state unknown, keep the previous one
    const out: string[] = [];
    for (const k of keys) {
      if (this.#down.has(k)) continue; // held, not a new press
      if (this.#terminators.has(k)) {
        if (!this.#dropping && this.#text.length > 0) out.push(this.#text);
        this.#text = '';
        this.#dropping = false;
        continue;
      }
      const ch = this.#char(k, mods);
      if (ch === undefined || this.#dropping) continue;
      if (this.#text.length >= MAX_SCAN_LENGTH) {
        this.#text = '';
        this.#dropping = true;
        this.dropped++;
        continue;
      }
      this.#text += ch;
    }
    this.#down = keys;
    return out;
  }

  #char(key: number, mods: number): string | undefined {
    const ctrl = (mods & (MOD_LCTRL | MOD_RCTRL)) !== 0;
    if (ctrl) {
      // Ctrl+key → C0 control (Ctrl+] = GS, how wedge scanners send FNC1). The
      // key is named by its US legend: scanners emit usages, not characters.
      const us = US[key]?.[0]?.toUpperCase();
      if (us === undefined) return undefined;
      const c = us.charCodeAt(0);
      return c >= 0x40 && c <= 0x5f ? String.fromCharCode(c - 0x40) : undefined;
    }
    const entry = this.#map[key];
    if (!entry) return undefined;
    if (mods & MOD_RALT) return entry[2];
    return mods & (MOD_LSHIFT | MOD_RSHIFT) ? entry[1] : entry[0];
  }

  get buffered(): number {
    return this.#text.length;
  }

  reset(): void {
    this.#down = new Set();
    this.#text = '';
    this.#dropping = false;
  }
}

/** Build boot-keyboard reports that type `text` then Enter on the US layout (simulators, fixtures). */
export function encodeKeyboardReports(text: string, layout = 'us'): Buffer[] {
  const map = (LAYOUTS[layout] ?? usLayout)();
  const out: Buffer[] = [];
  const release = Buffer.alloc(8);
  for (const ch of text) {
    let found: [number, number] | undefined;
    if (ch.charCodeAt(0) < 0x20) {
      const target = String.fromCharCode(ch.charCodeAt(0) + 0x40).toLowerCase();
      for (const [k, v] of Object.entries(US)) if (v[0] === target && Number(k) < 0x54) found = [Number(k), MOD_LCTRL];
    } else {
      for (const [k, v] of Object.entries(map)) {
        if (Number(k) >= 0x54 && Number(k) <= 0x63) continue; // prefer the main block over the keypad
        if (v[0] === ch) found ??= [Number(k), 0];
        else if (v[1] === ch) found ??= [Number(k), MOD_LSHIFT];
        else if (v[2] === ch) found ??= [Number(k), MOD_RALT];
      }
    }
    if (!found) throw new TypeError(`cannot type ${JSON.stringify(ch)} on layout ${layout}`);
    const down = Buffer.alloc(8);
    down[0] = found[1];
    down[2] = found[0];
    out.push(down, release);
  }
  const enter = Buffer.alloc(8);
  enter[2] = KEY_ENTER;
  out.push(enter, release);
  return out;
}
