// Shared pieces of the scale protocols: the reading builder, the frame type
// every protocol parser produces, and the ScaleProtocol description (device
// models as data, STYLE.md item 14: a protocol is a parser + a few request
// functions + default line settings, not a class hierarchy).
import { ScaleErrorCode, TillboxError } from '../../contract/errors.ts';
import type { WeightReading, WeightUnit, ScaleStatus } from '../../contract/devices/scale.ts';
import type { Framing } from '../transports/uri.ts';

/** The scale protocols, once: the config's `protocol` values and the auto probe follow this list. */
export const SCALE_PROTOCOLS = ['sics', 'toledo8217', 'cas', 'nci'] as const;
export type ScaleProtocolName = (typeof SCALE_PROTOCOLS)[number];

export type ScaleFrame =
  | { type: 'reading'; reading: WeightReading }
  /** A command reply without weight (SICS 'Z A', 'T I', toledo status record for Z, ...). */
  | { type: 'reply'; command: string; status: string; reading?: WeightReading }
  | { type: 'ack' }
  | { type: 'nak' }
  /** The scale said it did not understand or could not execute (SICS ES/ET/EL), or a frame failed its check (CAS BCC). */
  | { type: 'error'; code: string; message: string };

/** Byte-stream → frames, bounded; counts what it had to throw away so a framing mismatch can be diagnosed. */
export interface FrameParser {
  push(chunk: Buffer): ScaleFrame[];
  /** Bytes discarded as not part of any valid frame since the last takeGarbage(). */
  takeGarbage(): { bytes: number; highBit: number };
  reset(): void;
  /** Bytes held waiting for the rest of a frame (bounded; fuzz tests check it). */
  readonly buffered: number;
}

export interface ScaleIo {
  write(data: Uint8Array | string): Promise<void>;
  /** Next frame from the scale; rejects with ScaleError TIMEOUT/FRAMING after `timeoutMs`. */
  next(timeoutMs?: number): Promise<ScaleFrame>;
  /** Discard frames and bytes already received (stale answers after a timeout). */
  drain(): void;
}

export interface ScaleProtocol {
  readonly name: ScaleProtocolName;
  /** Manual this implementation follows. */
  readonly manual: string;
  readonly defaults: { baudRate: number; framing: Framing };
  readonly supports: { zero: boolean; tare: boolean };
  createParser(opts: { unit: WeightUnit }): FrameParser;
  weigh(io: ScaleIo): Promise<WeightReading>;
  zero(io: ScaleIo): Promise<void>;
  tare(io: ScaleIo): Promise<void>;
}

export { ScaleErrorCode } from '../../contract/errors.ts';

export class ScaleError extends TillboxError<ScaleErrorCode> {
  constructor(code: ScaleErrorCode, message: string, retryable = code === ScaleErrorCode.Timeout || code === ScaleErrorCode.Refused) {
    super(code, message, { retryable });
    this.name = 'ScaleError';
  }
}

export function isScaleError(err: unknown, code?: ScaleErrorCode): err is ScaleError {
  return err instanceof ScaleError && (code === undefined || err.code === code);
}

const UNITS: Record<string, WeightUnit> = { kg: 'kg', g: 'g', lb: 'lb', oz: 'oz' };
export function toUnit(text: string): WeightUnit | undefined {
  return UNITS[text.trim().toLowerCase()];
}

/** Normalise a decimal as sent ('  0.195', '-01.50', '00.000') → '0.195', '-1.50', '0.000'. */
export function normDecimal(text: string): string | undefined {
  const m = /^\s*([-+]?)\s*([0-9]*)(?:\.([0-9]+))?\s*$/.exec(text);
  if (!m || (m[2] === '' && m[3] === undefined)) return undefined;
  const int = (m[2] ?? '').replace(/^0+(?=[0-9])/, '') || '0';
  const frac = m[3] !== undefined ? `.${m[3]}` : '';
  const zero = /^0*$/.test(int + (m[3] ?? ''));
  return `${m[1] === '-' && !zero ? '-' : ''}${int}${frac}`;
}

function exactGrams(value: string, unit: WeightUnit): number | undefined {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?$/.exec(value);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  const shift = unit === 'kg' ? 3 : unit === 'g' ? 0 : -1;
  if (shift < 0) return undefined;
  const significant = frac.replace(/0+$/, '');
  if (significant.length > shift) return undefined;
  const digits = m[2]! + frac.padEnd(shift, '0').slice(0, shift);
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) return undefined;
  return m[1] === '-' ? -n : n;
}

export interface ReadingFlags {
  stable: boolean;
  overload?: boolean;
  underZero?: boolean;
  net?: boolean;
}

export function makeReading(protocol: ScaleProtocolName, value: string | null, unit: WeightUnit, flags: ReadingFlags): WeightReading {
  const negative = value?.startsWith('-');
  const underZero = flags.underZero === true || negative;
  let status: ScaleStatus;
  if (flags.overload) status = 'overweight';
  else if (underZero) status = 'under-zero';
  else if (!flags.stable) status = 'unstable';
  else if (value !== null && /^0+(\.0+)?$/.test(value)) status = 'zero';
  else if (value === null) status = 'not-ready';
  else status = 'stable';
  const r: WeightReading = { value, unit, stable: flags.stable, status, protocol };
  if (value !== null) {
    const g = exactGrams(value, unit);
    if (g !== undefined) r.grams = g;
  }
  if (flags.overload) r.overload = true;
  if (underZero) r.underZero = true;
  if (flags.net) r.net = true;
  return r;
}

/** Ring-free bounded accumulator shared by the parsers. */
export class ByteBuffer {
  #buf: Buffer = Buffer.alloc(0);
  readonly max: number;
  garbage = 0;
  highBit = 0;
  constructor(max: number) {
    this.max = max;
  }
  get data(): Buffer {
    return this.#buf;
  }
  append(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : Buffer.from(chunk);
    if (this.#buf.length > this.max) this.discard(this.#buf.length - this.max);
  }
  /** Drop n bytes from the front as garbage. */
  discard(n: number): void {
    for (let i = 0; i < n && i < this.#buf.length; i++) if (this.#buf[i]! & 0x80) this.highBit++;
    this.garbage += Math.min(n, this.#buf.length);
    this.#buf = this.#buf.subarray(n);
  }
  /** Consume n bytes as a valid frame. */
  consume(n: number): Buffer {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }
  take(): { bytes: number; highBit: number } {
    const r = { bytes: this.garbage, highBit: this.highBit };
    this.garbage = 0;
    this.highBit = 0;
    return r;
  }
  reset(): void {
    this.#buf = Buffer.alloc(0);
  }
}

/** Await a frame and check its type, turning the scale's own error replies into ScaleErrors. */
export async function expectFrame<T extends ScaleFrame['type']>(io: ScaleIo, types: readonly T[], what: string, timeoutMs?: number): Promise<Extract<ScaleFrame, { type: T }>> {
  for (let i = 0; i < 4; i++) {
    const f = await io.next(timeoutMs);
    if ((types as readonly string[]).includes(f.type)) return f as Extract<ScaleFrame, { type: T }>;
    if (f.type === 'error') throw new ScaleError(ScaleErrorCode.Protocol, `${what}: ${f.message}`);
    // Anything else is a stale or unsolicited frame (e.g. a late answer to a timed-out poll): skip a few.
  }
  throw new ScaleError(ScaleErrorCode.Protocol, `${what}: unexpected frames from the scale`);
}

/**
 * The bounded buffer and bookkeeping every protocol parser shares; a
 * protocol only writes push() (its framing).
 */
export abstract class BufferedFrameParser implements FrameParser {
  protected readonly buf: ByteBuffer;

  constructor(capacity: number) {
    this.buf = new ByteBuffer(capacity);
  }

  abstract push(chunk: Buffer): ScaleFrame[];

  get buffered(): number {
    return this.buf.data.length;
  }

  takeGarbage(): { bytes: number; highBit: number } {
    return this.buf.take();
  }

  reset(): void {
    this.buf.reset();
  }
}
