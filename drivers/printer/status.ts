// Printer status bytes (ESC/POS Command Reference: DLE EOT, GS a, GS ( H,
// DLE DC4 fn 8) and a frame parser that splits one inbound byte stream into
// the replies it carries. Everything here is pure and fuzzed.
import type { PaperState, PrinterCondition, PrinterStatus } from '../../contract/devices/printer.ts';

const bit = (b: number, n: number): boolean => ((b >> n) & 1) === 1;

/** Everything the status bytes can tell; undefined = not (yet) reported. */
export interface StatusBits {
  online?: boolean;
  drawerPin3High?: boolean;
  coverOpen?: boolean;
  feedButton?: boolean;
  waitingForRecovery?: boolean;
  paperEndStop?: boolean;
  errorOccurred?: boolean;
  recoverableError?: boolean;
  cutterError?: boolean;
  unrecoverableError?: boolean;
  autoRecoverableError?: boolean;
  paperNearEnd?: boolean;
  paperEmpty?: boolean;
}

/** A DLE EOT reply byte has the fixed pattern 0xx1xx10 (bits 0 = 0, 1 = 1, 4 = 1, 7 = 0). */
export const isRealtimeStatusByte = (b: number): boolean => (b & 0x93) === 0x12;
/** The first ASB byte has the fixed pattern 0xx1xx00; bytes 2-4 have bit 4 = 0 and bit 7 = 0. */
export const isAsbFirstByte = (b: number): boolean => (b & 0x93) === 0x10;
const isAsbTailByte = (b: number): boolean => (b & 0x90) === 0;

/** Decodes the reply to DLE EOT n. */
export function parseRealtimeStatus(n: 1 | 2 | 3 | 4, b: number): StatusBits {
  switch (n) {
    case 1: // printer status
      return { drawerPin3High: bit(b, 2), online: !bit(b, 3), waitingForRecovery: bit(b, 5), feedButton: bit(b, 6) };
    case 2: // offline cause
      return { coverOpen: bit(b, 2), feedButton: bit(b, 3), paperEndStop: bit(b, 5), errorOccurred: bit(b, 6) };
    case 3: // error cause
      return { recoverableError: bit(b, 2), cutterError: bit(b, 3), unrecoverableError: bit(b, 5), autoRecoverableError: bit(b, 6) };
    case 4: // roll paper sensor: bits 2-3 near-end, bits 5-6 paper end (both bits set when detected)
      return { paperNearEnd: (b & 0x0c) !== 0, paperEmpty: (b & 0x60) !== 0 };
  }
}

/** Decodes a 4-byte Automatic Status Back frame. */
export function parseAsb(frame: Uint8Array): StatusBits {
  const [b1 = 0, b2 = 0, b3 = 0] = frame;
  return {
    drawerPin3High: bit(b1, 2),
    online: !bit(b1, 3),
    coverOpen: bit(b1, 5),
    feedButton: bit(b1, 6),
    waitingForRecovery: bit(b2, 0),
    recoverableError: bit(b2, 2),
    cutterError: bit(b2, 3),
    unrecoverableError: bit(b2, 5),
    autoRecoverableError: bit(b2, 6),
    paperNearEnd: (b3 & 0x03) !== 0,
    paperEmpty: (b3 & 0x0c) !== 0,
  };
}

/** Folds decoded bits into the contract payload, UnifiedPOS names in `conditions`. */
export function toPrinterStatus(bits: StatusBits, opts: { drawerOpenWhen?: 'high' | 'low' | null; source: PrinterStatus['source']; at?: Date }): PrinterStatus {
  const paper: PaperState = bits.paperEmpty || bits.paperEndStop ? 'empty' : bits.paperNearEnd ? 'near-empty' : 'ok';
  const online = bits.online ?? false;
  const coverOpen = bits.coverOpen ?? false;
  const conditions: PrinterCondition[] = [];
  if (coverOpen) conditions.push('cover-open');
  if (paper === 'empty') conditions.push('rec-empty');
  if (paper === 'near-empty') conditions.push('rec-near-empty');
  if (!online) conditions.push('offline');
  if (bits.cutterError) conditions.push('cutter-error');
  if (bits.unrecoverableError) conditions.push('unrecoverable-error');
  if (bits.autoRecoverableError) conditions.push('auto-recoverable-error');
  if (bits.recoverableError) conditions.push('recoverable-error');
  let drawer: 'open' | 'closed' | undefined;
  if (opts.drawerOpenWhen && bits.drawerPin3High !== undefined) {
    drawer = bits.drawerPin3High === (opts.drawerOpenWhen === 'high') ? 'open' : 'closed';
    if (drawer === 'open') conditions.push('drawer-open');
  }
  const error = bits.cutterError || bits.unrecoverableError || bits.autoRecoverableError || bits.recoverableError;
  const status: PrinterStatus = {
    online,
    coverOpen,
    paper,
    ready: online && !coverOpen && paper !== 'empty' && !error,
    conditions,
    source: opts.source,
    at: (opts.at ?? new Date()).toISOString(),
  };
  if (drawer) status.drawer = drawer;
  return status;
}

// ------------------------------------------------------------ frame parser

export type InboundFrame =
  | { kind: 'realtime'; byte: number }
  | { kind: 'asb'; bytes: Buffer }
  | { kind: 'process-id'; id: string }
  | { kind: 'buffer-cleared' }
  /** Bytes no rule explains (line noise, unknown replies): reported, never fatal. */
  | { kind: 'unknown'; bytes: Buffer };

export interface StatusFrameParserOptions {
  /** A partial frame older than this is discarded (serialport InterByteTimeout idea). Default 200 ms. */
  interByteTimeoutMs?: number;
  /** Longest block reply (37h 22h ... 00h) accepted before it is dropped as noise. */
  maxBlockLength?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

/**
 * Splits what the printer sends into frames: 1-byte DLE EOT replies
 * (0xx1xx10), 4-byte ASB frames (0xx1xx00 + three bytes with bit 4 = 0),
 * block replies 37h 22h d1..d4 00h (process ID) and 37h 25h 00h (buffers
 * cleared). A frame cut short by a quiet line is dropped after the
 * inter-byte timeout so the next byte starts clean.
 */
export class StatusFrameParser {
  readonly #onFrame: (f: InboundFrame) => void;
  readonly #timeoutMs: number;
  readonly #maxBlock: number;
  readonly #setTimer: (fn: () => void, ms: number) => unknown;
  readonly #clearTimer: (t: unknown) => void;
  #pending: number[] = [];
  #timer: unknown;

  constructor(onFrame: (f: InboundFrame) => void, opts: StatusFrameParserOptions = {}) {
    const t = opts.interByteTimeoutMs ?? 200;
    if (!Number.isFinite(t) || t <= 0) throw new RangeError('interByteTimeoutMs must be > 0');
    this.#onFrame = onFrame;
    this.#timeoutMs = t;
    this.#maxBlock = opts.maxBlockLength ?? 64;
    this.#setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
    this.#clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  }

  push(chunk: Uint8Array): void {
    for (const b of chunk) this.#byte(b);
    if (this.#timer !== undefined) this.#clearTimer(this.#timer);
    this.#timer = this.#pending.length > 0 ? this.#setTimer(() => this.flush(), this.#timeoutMs) : undefined;
  }

  /** Drops an unfinished frame (timeout, or the transport closed). */
  flush(): void {
    this.#timer = undefined;
    if (this.#pending.length > 0) this.#emit({ kind: 'unknown', bytes: Buffer.from(this.#pending) });
    this.#pending = [];
  }

  #byte(b: number): void {
    const p = this.#pending;
    if (p.length === 0) {
      if (isRealtimeStatusByte(b)) this.#emit({ kind: 'realtime', byte: b });
      else if (isAsbFirstByte(b) || b === 0x37) p.push(b);
      else this.#emit({ kind: 'unknown', bytes: Buffer.from([b]) });
      return;
    }
    if (p[0] === 0x37) {
      if (p.length === 1 && b !== 0x22 && b !== 0x25) return this.#restart(b);
      p.push(b);
      if (b === 0x00) {
        const bytes = Buffer.from(p);
        this.#pending = [];
        if (bytes[1] === 0x22 && bytes.length === 7) this.#emit({ kind: 'process-id', id: bytes.subarray(2, 6).toString('latin1') });
        else if (bytes[1] === 0x25 && bytes.length === 3) this.#emit({ kind: 'buffer-cleared' });
        else this.#emit({ kind: 'unknown', bytes });
      } else if (p.length > this.#maxBlock) this.#restart();
      return;
    }
    // ASB in progress.
    if (!isAsbTailByte(b)) {
      this.#restart(b);
      return;
    }
    p.push(b);
    if (p.length === 4) {
      this.#pending = [];
      this.#emit({ kind: 'asb', bytes: Buffer.from(p) });
    }
  }

  /** The pending bytes were not a frame: report them and re-examine `b` from a clean state. */
  #restart(b?: number): void {
    const bytes = Buffer.from(this.#pending);
    this.#pending = [];
    this.#emit({ kind: 'unknown', bytes });
    if (b !== undefined) this.#byte(b);
  }

  #emit(f: InboundFrame): void {
    this.#onFrame(f);
  }
}
