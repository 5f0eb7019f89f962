// The one interface every tillbox driver talks to (STYLE.md item 1: the
// serialport BindingInterface idea, one level up). A driver never opens a port
// itself: the devices process builds a Transport from a URI (see uri.ts) and
// hands it over, and tests hand over a mock or a simulator-backed one.
//
// Contract (checked for every implementation by transport.abstract.ts):
// - open() resolves once data can flow; it rejects with a TransportError.
// - 'data' delivers chunks exactly as they arrived (no framing here; framing
//   is the protocol parser's job).
// - 'close' fires exactly once per successful open(), with `disconnected: true`
//   when the peer/device went away (unplug, EOF, EIO, socket reset) and
//   `false` when close() was called. Drivers decide retry vs give-up from
//   that flag, never from an error message.
// - write() rejects with a TransportError (code TB_TRANSPORT_NOT_OPEN when
//   closed, TB_TRANSPORT_DISCONNECTED when the device vanished mid-write).
// - Listeners that throw are not the transport's problem: implementations
//   emit through safeEmit() so one failing listener cannot kill the read loop.
import { TillboxError, TransportErrorCode } from '../../contract/errors.ts';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

export interface TransportClose {
  /** True when the device or peer went away (not because close() was called). */
  disconnected: boolean;
  /** The underlying error when there was one (EIO on unplug, ECONNRESET, ...). */
  error?: Error;
}

export interface TransportEvents {
  data: [chunk: Buffer];
  close: [info: TransportClose];
  /** Non-fatal problems (a listener threw, a write failed). Fatal ones end in 'close'. */
  error: [err: Error];
}

export type TransportEvent = keyof TransportEvents;
export type TransportListener<E extends TransportEvent> = (...args: TransportEvents[E]) => void;

export type TransportKind = 'serial' | 'tcp' | 'hid' | 'usb' | 'file' | 'mock';

export interface Transport {
  /** What kind of link this is; drivers rarely care, logs and state payloads do. */
  readonly kind: TransportKind;
  /** The URI (or a description) this transport was built from, for logs and PeripheralState.uri. */
  readonly uri: string;
  readonly isOpen: boolean;
  open(): Promise<void>;
  /** Idempotent: closing a closed transport resolves. */
  close(): Promise<void>;
  write(data: Uint8Array | string): Promise<void>;
  on<E extends TransportEvent>(event: E, listener: TransportListener<E>): this;
  once<E extends TransportEvent>(event: E, listener: TransportListener<E>): this;
  off<E extends TransportEvent>(event: E, listener: TransportListener<E>): this;
}

/** What every transport constructor takes besides its binding (one context object, STYLE.md item 6). */
export interface TransportContext {
  logger?: Logger;
  /**
   * Wire log (STYLE.md item 11): hex dumps with direction arrows at `trace`,
   * built only when that level is enabled. Off unless set.
   */
  wireLog?: boolean;
}

// Error codes: the TB_TRANSPORT_* band of contract/errors.ts.
export { TransportErrorCode } from '../../contract/errors.ts';

export class TransportError extends TillboxError<TransportErrorCode> {
  constructor(code: TransportErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(code, message, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      // serialport's convention: the device went away.
      disconnected: code === TransportErrorCode.Disconnected,
      retryable: options.retryable ?? (code === TransportErrorCode.Disconnected || code === TransportErrorCode.OpenFailed || code === TransportErrorCode.Timeout),
    });
    this.name = 'TransportError';
  }
}

export function isTransportError(err: unknown, code?: TransportErrorCode): err is TransportError {
  return err instanceof TransportError && (code === undefined || err.code === code);
}

/** True when the error means the device/peer is gone (unplug, reset) — reopen later. */
export function isDisconnectError(err: unknown): boolean {
  if (err instanceof TransportError) return err.disconnected;
  return typeof err === 'object' && err !== null && ((err as { disconnected?: unknown }).disconnected === true || (err as { disconnect?: unknown }).disconnect === true);
}

/**
 * Base class with the shared event plumbing: typed on/once/off, a close that
 * fires once, and listener isolation. Implementations call emitData() and
 * emitClose() and never EventEmitter.emit directly.
 */
export abstract class TransportBase extends EventEmitter implements Transport {
  abstract readonly kind: TransportKind;
  readonly uri: string;
  protected readonly logger: Logger | undefined;
  protected readonly wireLog: boolean;
  #open = false;

  constructor(uri: string, ctx: TransportContext = {}) {
    super();
    this.uri = uri;
    this.logger = ctx.logger;
    this.wireLog = ctx.wireLog ?? false;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  abstract open(): Promise<void>;
  abstract close(): Promise<void>;
  abstract write(data: Uint8Array | string): Promise<void>;

  override on<E extends TransportEvent>(event: E, listener: TransportListener<E>): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }
  override once<E extends TransportEvent>(event: E, listener: TransportListener<E>): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }
  override off<E extends TransportEvent>(event: E, listener: TransportListener<E>): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  protected markOpen(): void {
    this.#open = true;
  }

  protected emitData(chunk: Buffer): void {
    if (this.wireLog && this.logger?.isLevelEnabled('trace')) this.logger.trace({ uri: this.uri, hex: chunk.toString('hex') }, '<- %d bytes', chunk.length);
    this.safeEmit('data', chunk);
  }

  protected logWrite(chunk: Uint8Array): void {
    if (this.wireLog && this.logger?.isLevelEnabled('trace')) this.logger.trace({ uri: this.uri, hex: Buffer.from(chunk).toString('hex') }, '-> %d bytes', chunk.length);
  }

  /** Fires 'close' once per open; later calls are ignored. */
  protected emitClose(info: TransportClose): void {
    if (!this.#open) return;
    this.#open = false;
    if (info.disconnected) this.logger?.warn({ uri: this.uri, err: info.error }, 'transport disconnected');
    this.safeEmit('close', info);
  }

  /** A throwing listener is logged and reported on 'error', never propagated into the read loop. */
  protected safeEmit<E extends TransportEvent>(event: E, ...args: TransportEvents[E]): void {
    for (const listener of this.listeners(event)) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.logger?.error({ err, event, uri: this.uri }, 'transport listener threw');
        if (event !== 'error' && this.listenerCount('error') > 0) this.safeEmit('error', err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}

export function toBuffer(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
