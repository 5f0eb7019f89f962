// ESC/POS command encoder. Every function returns the exact bytes of one
// command; references are to the Epson "ESC/POS Application Programming
// Guide" / "ESC/POS Command Reference" (section = the command's name there).
// The builder composes them and encodes text through the selected code page.
import iconv from 'iconv-lite';

const ESC = 0x1b;
const GS = 0x1d;
const DLE = 0x10;
const EOT = 0x04;
const DC4 = 0x14;
export const LF = 0x0a;

function byte(n: number, what: string, min = 0, max = 255): number {
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`${what} must be an integer in ${min}..${max}, got ${n}`);
  return n;
}

// ------------------------------------------------------------ basic commands

/** ESC @ — initialize printer: clears the print buffer and resets modes. */
export const init = (): Buffer => Buffer.from([ESC, 0x40]);
/** LF — print and line feed. */
export const lineFeed = (): Buffer => Buffer.from([LF]);
/** ESC d n — print and feed n lines. */
export const feedLines = (n: number): Buffer => Buffer.from([ESC, 0x64, byte(n, 'lines')]);
/** ESC E n — emphasized (bold) on/off (LSB of n). */
export const bold = (on: boolean): Buffer => Buffer.from([ESC, 0x45, on ? 1 : 0]);
/** ESC - n — underline: 0 off, 1 one dot, 2 two dots. */
export const underline = (dots: 0 | 1 | 2): Buffer => Buffer.from([ESC, 0x2d, byte(dots, 'underline', 0, 2)]);
/**
 * GS ! n — character size: bits 4-6 width magnification - 1, bits 0-2
 * height magnification - 1 (1..8 each).
 */
export const charSize = (width: number, height: number): Buffer => Buffer.from([GS, 0x21, ((byte(width, 'width', 1, 8) - 1) << 4) | (byte(height, 'height', 1, 8) - 1)]);

export type Align = 'left' | 'center' | 'right';
const ALIGN: Record<Align, number> = { left: 0, center: 1, right: 2 };
/** ESC a n — justification: 0 left, 1 centered, 2 right. Only at the start of a line. */
export const align = (a: Align): Buffer => Buffer.from([ESC, 0x61, ALIGN[a]]);
/** ESC t n — select character code table (n is model specific, see models.ts codePages()). */
export const codeTable = (n: number): Buffer => Buffer.from([ESC, 0x74, byte(n, 'code table')]);

// ------------------------------------------------------------ cut / drawer

/**
 * GS V m n (Function B) — feed to the cutting position + n motion units and
 * cut: m = 65 full cut, 66 partial cut (one point left uncut). Function B is
 * used so the last printed line clears the cutter without extra line feeds.
 */
export const cut = (partial: boolean, feed = 0): Buffer => Buffer.from([GS, 0x56, partial ? 66 : 65, byte(feed, 'feed')]);

/** Drawer kick connector pin: ESC p m — m = 0 drives pin 2, m = 1 drives pin 5. */
export type DrawerPin = 2 | 5;
/**
 * ESC p m t1 t2 — generate pulse: ON for t1 x 2 ms, OFF for t2 x 2 ms
 * (t2 < t1 is treated as t1 by the printer, so we enforce t2 >= t1).
 * Buffered: executes in sequence with print data (after the receipt).
 */
export function drawerKick(pin: DrawerPin, onMs = 100, offMs = 500): Buffer {
  const t1 = byte(Math.round(onMs / 2), 'pulse on (ms/2)', 1, 255);
  const t2 = Math.max(t1, byte(Math.round(offMs / 2), 'pulse off (ms/2)', 1, 255));
  return Buffer.from([ESC, 0x70, pin === 2 ? 0 : 1, t1, t2]);
}
/**
 * DLE DC4 n m t (fn = 1) — generate pulse in real time: m = 0 pin 2, 1 pin 5;
 * ON t x 100 ms, OFF t x 100 ms (t = 1..8). Executes on reception even when
 * the printer is offline (paper out, cover open) — the drawer opens anyway.
 */
export function drawerKickRealtime(pin: DrawerPin, onMs = 100): Buffer {
  return Buffer.from([DLE, DC4, 1, pin === 2 ? 0 : 1, byte(Math.max(1, Math.round(onMs / 100)), 'pulse (x100 ms)', 1, 8)]);
}

// ------------------------------------------------------------ status

/** DLE EOT n — real-time status: 1 printer, 2 offline cause, 3 error cause, 4 roll paper sensor. */
export const realtimeStatus = (n: 1 | 2 | 3 | 4): Buffer => Buffer.from([DLE, EOT, byte(n, 'status kind', 1, 4)]);
/**
 * GS a n — enable/disable Automatic Status Back. Bits: 0 drawer kick
 * connector, 1 online/offline, 2 error, 3 roll paper sensor. 0 disables.
 */
export const automaticStatusBack = (n = 0x0f): Buffer => Buffer.from([GS, 0x61, byte(n, 'ASB mask', 0, 0xff)]);
/**
 * GS ( H pL pH fn m d1 d2 d3 d4 (fn = 48) — transmit process ID response:
 * pL=6 pH=0 fn=48 m=48; d1..d4 in 32..126. The printer answers
 * 37h 22h d1 d2 d3 d4 00h once all preceding data is processed — for print
 * data, "when the printing is completed".
 */
export function processId(id: string): Buffer {
  const bytes = Buffer.from(id, 'latin1');
  if (bytes.length !== 4 || bytes.some((b) => b < 32 || b > 126)) throw new RangeError(`process id must be 4 printable ASCII bytes, got ${JSON.stringify(id)}`);
  return Buffer.concat([Buffer.from([GS, 0x28, 0x48, 6, 0, 48, 48]), bytes]);
}
/**
 * DLE DC4 fn=8 d1..d7 — clear buffer(s): d = 1 3 20 1 6 2 8 (fixed). Drops
 * the receive and print buffers (a half-sent job from a cut connection); the
 * printer answers 37h 25h 00h.
 */
export const clearBuffers = (): Buffer => Buffer.from([DLE, DC4, 8, 1, 3, 20, 1, 6, 2, 8]);

// ------------------------------------------------------------ barcodes

export type HriPosition = 'none' | 'above' | 'below' | 'both';
const HRI: Record<HriPosition, number> = { none: 0, above: 1, below: 2, both: 3 };
/** GS h n — bar code height in dots (1..255). */
export const barcodeHeight = (dots: number): Buffer => Buffer.from([GS, 0x68, byte(dots, 'barcode height', 1, 255)]);
/** GS w n — bar code module width (2..6 on Epson TM; some clones accept 1). */
export const barcodeWidth = (n: number): Buffer => Buffer.from([GS, 0x77, byte(n, 'barcode module width', 1, 6)]);
/** GS H n — HRI character position: 0 none, 1 above, 2 below, 3 both. */
export const barcodeHri = (pos: HriPosition): Buffer => Buffer.from([GS, 0x48, HRI[pos]]);

/** EAN-13 check digit (GS1 General Specifications §7.9). */
export function ean13CheckDigit(twelve: string): number {
  let s = 0;
  for (let i = 0; i < 12; i++) s += Number(twelve[i]) * (i % 2 === 0 ? 1 : 3);
  return (10 - (s % 10)) % 10;
}
/** GS k m n d1..dn (Function B), m = 67 EAN13: n = 12 (printer adds the check digit) or 13 (verified here). */
export function ean13(data: string): Buffer {
  if (!/^\d{12,13}$/.test(data)) throw new RangeError(`EAN-13 needs 12 or 13 digits, got ${JSON.stringify(data)}`);
  if (data.length === 13 && ean13CheckDigit(data) !== Number(data[12])) throw new RangeError(`EAN-13 check digit wrong in ${data}`);
  return Buffer.concat([Buffer.from([GS, 0x6b, 67, data.length]), Buffer.from(data, 'latin1')]);
}

/**
 * GS k m n d1..dn (Function B), m = 73 CODE128. The data starts with a code
 * set selector: "{A", "{B" or "{C"; a literal "{" is "{{". For code set C
 * the data bytes are the 2-digit values 0..99 themselves, not ASCII digits.
 */
export function code128(data: string, set: 'B' | 'C' = 'B'): Buffer {
  let body: Buffer;
  if (set === 'C') {
    if (!/^(\d\d)+$/.test(data)) throw new RangeError('CODE128 set C needs an even number of digits');
    const pairs = data.match(/\d\d/g) ?? [];
    body = Buffer.from([0x7b, 0x43, ...pairs.map(Number)]);
  } else {
    if (!/^[\x20-\x7e]*$/.test(data)) throw new RangeError('CODE128 set B takes printable ASCII only');
    body = Buffer.concat([Buffer.from('{B', 'latin1'), Buffer.from(data.replaceAll('{', '{{'), 'latin1')]);
  }
  if (body.length < 2 || body.length > 255) throw new RangeError(`CODE128 data length out of range: ${body.length}`);
  return Buffer.concat([Buffer.from([GS, 0x6b, 73, body.length]), body]);
}
/** Width in modules of a CODE128 symbol: 11 per symbol char + start + check, 13 for stop, plus 20 quiet zone. */
export function code128Modules(symbolChars: number): number {
  return (symbolChars + 2) * 11 + 13 + 20;
}

export type QrErrorCorrection = 'L' | 'M' | 'Q' | 'H';
const QR_EC: Record<QrErrorCorrection, number> = { L: 48, M: 49, Q: 50, H: 51 };
/** GS ( k pL pH cn fn ... with cn = 49 (QR Code). */
function qrFn(fn: number, params: number[] | Buffer): Buffer {
  const len = params.length + 2;
  return Buffer.concat([Buffer.from([GS, 0x28, 0x6b, len & 0xff, len >> 8, 49, fn]), Buffer.from(params)]);
}
/**
 * QR code: <Function 165> select model 2 (fn 65: n1 = 50, n2 = 0),
 * <Function 167> module size (fn 67: 1..16 dots), <Function 169> error
 * correction (fn 69: 48 L .. 51 H), <Function 180> store data (fn 80,
 * m = 48), <Function 181> print the stored symbol (fn 81, m = 48).
 */
export function qrCode(data: string, opts: { moduleSize?: number; errorCorrection?: QrErrorCorrection } = {}): Buffer {
  const bytes = Buffer.from(data, 'utf8');
  if (bytes.length < 1 || bytes.length > 7089) throw new RangeError(`QR data must be 1..7089 bytes, got ${bytes.length}`);
  return Buffer.concat([
    qrFn(65, [50, 0]),
    qrFn(67, [byte(opts.moduleSize ?? 6, 'QR module size', 1, 16)]),
    qrFn(69, [QR_EC[opts.errorCorrection ?? 'M']]),
    qrFn(80, Buffer.concat([Buffer.from([48]), bytes])),
    qrFn(81, [48]),
  ]);
}

// ------------------------------------------------------------ text encoding

/** iconv-lite names of the code pages tillbox renders text in. */
export type CodePage = 'cp437' | 'cp850' | 'cp852' | 'cp858' | 'cp866' | 'windows1252';

/** Encodes text for a code page; characters it lacks become '?' (never throws). */
export function encodeText(text: string, page: CodePage): Buffer {
  // Control characters in catalog text must not turn into printer commands.
  const clean = text.replace(/[\x00-\x1f\x7f]/g, ' ');
  return iconv.encode(clean, page);
}
export function decodeText(bytes: Buffer, page: CodePage): string {
  return iconv.decode(bytes, page);
}
