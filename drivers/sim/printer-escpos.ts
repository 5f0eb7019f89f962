// Streaming ESC/POS tokenizer for the printer simulator. Commands may arrive
// split across TCP segments; the tokenizer keeps at most one command's worth
// of bytes (bounded: payloads larger than maxBuffered, such as raster images,
// are skipped, not buffered). Command lengths follow the Epson ESC/POS
// Command Reference; unknown ESC/GS commands are assumed to take one
// parameter byte, which is what most of them take.

export interface Token {
  /** 'text', 'LF', 'CR', 'HT', 'FF', 'CAN', 'ESC x', 'GS x', 'DLE x', 'FS x', or 'CTRL' for other C0 bytes. */
  name: string;
  /** Whole command bytes (text bytes for 'text'); empty when the payload was skipped. */
  bytes: Buffer;
  /** Payload bytes dropped because the command was larger than maxBuffered. */
  skipped?: number;
  /** DLE EOT / DLE ENQ / DLE DC4: executed on reception, even while the printer is stopped. */
  realtime?: boolean;
}

const ESC = 0x1b;
const GS = 0x1d;
const DLE = 0x10;
const FS = 0x1c;

type Measure = { len: number; name: string; realtime?: boolean } | undefined;

const u16 = (b: Buffer, i: number) => (b[i] ?? 0) + (b[i + 1] ?? 0) * 256;

/** Length of the command starting at b[i], or undefined when more bytes are needed to know. */
function measure(b: Buffer, i: number): Measure {
  const avail = b.length - i;
  const c0 = b[i]!;
  const c1 = b[i + 1];
  if (c0 === ESC) {
    if (c1 === undefined) return undefined;
    const name = `ESC ${String.fromCharCode(c1)}`;
    switch (c1) {
      case 0x40: // @
      case 0x32: // 2 default line spacing
      case 0x3c: // < return home
      case 0x4c: // L page mode
      case 0x53: // S standard mode
      case 0x0c: // FF print in page mode
        return { len: 2, name };
      case 0x70: // p m t1 t2
        return { len: 5, name };
      case 0x24: // $ nL nH
      case 0x5c: // \ nL nH
      case 0x63: // c 3 n / c 4 n / c 5 n
        return { len: 4, name };
      case 0x2a: {
        // * m nL nH d1..dk: k = nL + nH*256 columns, 1 byte each (8-dot) or 3 (24-dot)
        if (avail < 5) return undefined;
        const m = b[i + 2]!;
        const k = u16(b, i + 3);
        return { len: 5 + (m >= 32 ? 3 : 1) * k, name };
      }
      case 0x44: {
        // D n1..nk NUL: tab positions, at most 32 + NUL
        for (let j = i + 2; j < Math.min(b.length, i + 35); j++) if (b[j] === 0) return { len: j - i + 1, name };
        return avail >= 35 ? { len: 35, name } : undefined;
      }
      case 0x28: // ( X pL pH data
        if (avail < 5) return undefined;
        return { len: 5 + u16(b, i + 3), name: `ESC ( ${String.fromCharCode(b[i + 2]!)}` };
      default:
        return { len: 3, name };
    }
  }
  if (c0 === GS) {
    if (c1 === undefined) return undefined;
    const name = `GS ${String.fromCharCode(c1)}`;
    switch (c1) {
      case 0x3a: // : macro start/end
        return { len: 2, name };
      case 0x4c: // L nL nH
      case 0x57: // W nL nH
      case 0x50: // P x y
        return { len: 4, name };
      case 0x5e: // ^ r t m
        return { len: 5, name };
      case 0x56: // V m [n]
        if (avail < 3) return undefined;
        return { len: [65, 66, 97, 98, 103, 104].includes(b[i + 2]!) ? 4 : 3, name };
      case 0x6b: {
        // k m ...: m 0-6 NUL-terminated (function A), m 65-79 with length n (function B)
        if (avail < 3) return undefined;
        const m = b[i + 2]!;
        if (m <= 6) {
          for (let j = i + 3; j < Math.min(b.length, i + 259); j++) if (b[j] === 0) return { len: j - i + 1, name };
          return avail >= 259 ? { len: 259, name } : undefined;
        }
        if (avail < 4) return undefined;
        return { len: 4 + b[i + 3]!, name };
      }
      case 0x28: // ( X pL pH data
        if (avail < 5) return undefined;
        return { len: 5 + u16(b, i + 3), name: `GS ( ${String.fromCharCode(b[i + 2]!)}` };
      case 0x76: // v 0 m xL xH yL yH d: raster image, (xL+xH*256) * (yL+yH*256) bytes
        if (avail < 8) return undefined;
        return { len: 8 + u16(b, i + 4) * u16(b, i + 6), name };
      case 0x38: // 8 L p1 p2 p3 p4 m fn ...: 32-bit length
        if (avail < 7) return undefined;
        return { len: 7 + ((b[i + 3]! | (b[i + 4]! << 8) | (b[i + 5]! << 16)) + b[i + 6]! * 0x1000000), name: `GS 8 ${String.fromCharCode(b[i + 2]!)}` };
      case 0x2a: // * x y d: x*y*8 bytes
        if (avail < 4) return undefined;
        return { len: 4 + b[i + 2]! * b[i + 3]! * 8, name };
      default:
        return { len: 3, name };
    }
  }
  if (c0 === DLE) {
    if (c1 === undefined) return undefined;
    if (c1 === 0x04) return { len: 3, name: 'DLE EOT', realtime: true };
    if (c1 === 0x05) return { len: 3, name: 'DLE ENQ', realtime: true };
    if (c1 === 0x14) {
      if (avail < 3) return undefined;
      const fn = b[i + 2]!;
      const len = fn === 1 || fn === 2 ? 5 : fn === 7 ? 4 : fn === 8 ? 10 : 3;
      return { len, name: 'DLE DC4', realtime: true };
    }
    return { len: 1, name: 'CTRL' };
  }
  if (c0 === FS) {
    if (c1 === undefined) return undefined;
    const name = `FS ${String.fromCharCode(c1)}`;
    if (c1 === 0x2e || c1 === 0x26) return { len: 2, name };
    if (c1 === 0x70) return { len: 4, name };
    return { len: 3, name };
  }
  return undefined;
}

const C0_NAMES: Record<number, string> = { 0x0a: 'LF', 0x0d: 'CR', 0x09: 'HT', 0x0c: 'FF', 0x18: 'CAN' };

export interface TokenizerOptions {
  /** Largest command kept whole; bigger payloads are skipped. Default 70,000 (a GS ( k QR store fits). */
  maxBuffered?: number;
}

export class EscPosTokenizer {
  readonly #onToken: (t: Token) => void;
  readonly #max: number;
  #buf: Buffer = Buffer.alloc(0);
  #skip = 0;

  constructor(onToken: (t: Token) => void, opts: TokenizerOptions = {}) {
    this.#onToken = onToken;
    this.#max = opts.maxBuffered ?? 70_000;
    if (!(this.#max >= 16)) throw new RangeError('maxBuffered must be >= 16');
  }

  /** Bytes held while waiting for the rest of a command (bounded by maxBuffered). */
  get buffered(): number {
    return this.#buf.length;
  }

  push(chunk: Buffer): void {
    let data = chunk;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, data.length);
      this.#skip -= n;
      data = data.subarray(n);
    }
    const b = this.#buf.length > 0 ? Buffer.concat([this.#buf, data]) : data;
    let i = 0;
    while (i < b.length) {
      const c = b[i]!;
      if (c >= 0x20 && c !== 0x7f) {
        let j = i + 1;
        while (j < b.length && b[j]! >= 0x20 && b[j] !== 0x7f) j++;
        this.#onToken({ name: 'text', bytes: Buffer.from(b.subarray(i, j)) });
        i = j;
        continue;
      }
      if (c !== ESC && c !== GS && c !== DLE && c !== FS) {
        this.#onToken({ name: C0_NAMES[c] ?? 'CTRL', bytes: Buffer.from([c]) });
        i++;
        continue;
      }
      const m = measure(b, i);
      if (!m) {
        // Incomplete header: keep it (at most a few bytes).
        break;
      }
      if (m.len > this.#max) {
        const have = b.length - i;
        this.#onToken({ name: m.name, bytes: Buffer.alloc(0), skipped: m.len });
        if (have >= m.len) {
          i += m.len;
          continue;
        }
        this.#skip = m.len - have;
        i = b.length;
        break;
      }
      if (b.length - i < m.len) break;
      const token: Token = { name: m.name, bytes: Buffer.from(b.subarray(i, i + m.len)) };
      if (m.realtime) token.realtime = true;
      this.#onToken(token);
      i += m.len;
    }
    this.#buf = i < b.length ? Buffer.from(b.subarray(i)) : Buffer.alloc(0);
  }

  reset(): void {
    this.#buf = Buffer.alloc(0);
    this.#skip = 0;
  }
}
