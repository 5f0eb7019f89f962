// Scanner driver: Transport → decoder (serial lines, HID POS reports or
// keyboard-wedge reports) → parseScan → 'scan'. Lifecycle per STYLE.md item 6:
// the constructor only assigns, start() opens and listens, stop() removes
// every listener it added and closes the transport.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ScanPayload } from '../../contract/devices/scanner.ts';
import type { Transport, TransportClose } from '../transports/transport.ts';
import { HidPosDecoder, KeyboardWedgeDecoder, LineDecoder, type CodeDecoder, type HidPosOptions, type KeyboardWedgeOptions, type LineDecoderOptions } from './decoders.ts';
import { ScanError, parseScan, type ParseScanOptions } from './parse-scan.ts';

export type ScannerMode = 'serial' | 'hid-pos' | 'keyboard';

export interface ScannerContext {
  transport: Transport;
  mode: ScannerMode;
  logger?: Logger;
  /** Variable-measure layouts, prefix/suffix, GS substitute. */
  parse?: Omit<ParseScanOptions, 'now' | 'source'>;
  line?: LineDecoderOptions;
  hidPos?: HidPosOptions;
  keyboard?: KeyboardWedgeOptions;
  /** Clock for `at` (tests pin it). */
  now?: () => Date;
}

export interface ScannerEvents {
  scan: [payload: ScanPayload];
  /** A code that could not be turned into a payload, or a decoder drop. Never fatal. */
  error: [err: Error];
  /** The transport closed; `disconnected` = unplugged (the supervisor reopens), else stop() was called. */
  close: [info: TransportClose];
}

export function createDecoder(ctx: Pick<ScannerContext, 'mode' | 'line' | 'hidPos' | 'keyboard'>): CodeDecoder {
  switch (ctx.mode) {
    case 'serial':
      return new LineDecoder(ctx.line);
    case 'hid-pos':
      return new HidPosDecoder(ctx.hidPos);
    case 'keyboard':
      return new KeyboardWedgeDecoder(ctx.keyboard);
    default:
      throw new TypeError(`unknown scanner mode ${JSON.stringify(ctx.mode)}`);
  }
}

export class ScannerDriver extends EventEmitter<ScannerEvents> {
  readonly #ctx: ScannerContext;
  readonly #decoder: CodeDecoder;
  #onData: ((chunk: Buffer) => void) | undefined;
  #onClose: ((info: TransportClose) => void) | undefined;
  #dropped = 0;

  constructor(ctx: ScannerContext) {
    super();
    this.#ctx = ctx;
    this.#decoder = createDecoder(ctx);
  }

  get transport(): Transport {
    return this.#ctx.transport;
  }

  async start(): Promise<void> {
    if (this.#onData) return;
    const t = this.#ctx.transport;
    this.#onData = (chunk) => this.#handle(chunk);
    this.#onClose = (info) => {
      this.#detach();
      this.#decoder.reset();
      this.emit('close', info);
    };
    t.on('data', this.#onData);
    t.on('close', this.#onClose);
    try {
      if (!t.isOpen) await t.open();
    } catch (err) {
      this.#detach();
      throw err;
    }
  }

  async stop(): Promise<void> {
    const t = this.#ctx.transport;
    // Keep the close listener until the transport has closed so 'close' is still reported.
    this.#onData && t.off('data', this.#onData);
    this.#onData = undefined;
    await t.close();
    this.#detach();
  }

  #detach(): void {
    const t = this.#ctx.transport;
    if (this.#onData) t.off('data', this.#onData);
    if (this.#onClose) t.off('close', this.#onClose);
    this.#onData = undefined;
    this.#onClose = undefined;
  }

  #handle(chunk: Buffer): void {
    const codes = this.#decoder.push(chunk);
    if (this.#decoder.dropped !== this.#dropped) {
      this.#dropped = this.#decoder.dropped;
      this.#report(new ScanError(`dropped an oversized or malformed ${this.#ctx.mode} input (${this.#dropped} so far)`));
    }
    for (const raw of codes) {
      try {
        const payload = parseScan(raw, { ...this.#ctx.parse, now: this.#ctx.now?.() ?? new Date(), source: this.#ctx.mode });
        this.#ctx.logger?.debug({ symbology: payload.symbology, uri: this.#ctx.transport.uri }, 'scan');
        this.emit('scan', payload);
      } catch (err) {
        this.#report(err as Error);
      }
    }
  }

  #report(err: Error): void {
    this.#ctx.logger?.warn({ err, uri: this.#ctx.transport.uri }, 'scanner input rejected');
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
