// ESC/POS printer driver over any Transport (TCP 9100, USB printer class,
// /dev/usb/lp*, serial). Owns the connection (reconnect with jittered
// backoff), real-time status (DLE EOT 1-4 polling plus Automatic Status Back
// when the model has it), print-completion confirmation (GS ( H process ID)
// and the drawer kick. Lifecycle per STYLE.md item 6: the constructor only
// assigns, start() connects, stop() removes everything it added.
import { backoffDelay } from '../../lib/backoff.ts';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { PowerState } from '../../contract/devices.ts';
import type { PrinterStatus } from '../../contract/devices/printer.ts';
import { TransportError, TransportErrorCode, type Transport, type TransportClose } from '../transports/transport.ts';
import * as cmd from './escpos.ts';
import type { PrinterModel } from './models.ts';
import { parseAsb, parseRealtimeStatus, StatusFrameParser, toPrinterStatus, type InboundFrame, type StatusBits } from './status.ts';

export interface EscPosPrinterContext {
  transport: Transport;
  model: PrinterModel;
  logger?: Logger;
  /** DLE EOT poll period; ASB makes it a safety net. Default 3000 ms. */
  statusPollMs?: number;
  /** How long a DLE EOT / clear-buffer reply may take. Default 2000 ms. */
  replyTimeoutMs?: number;
  /** A ready printer that does not confirm a job in this time fails the attempt. Default 120 s. */
  jobTimeoutMs?: number;
  /** Reconnect backoff bounds (full jitter). Default 250 ms .. 30 s. */
  reconnect?: { minMs: number; maxMs: number };
  random?: () => number;
}

export interface PrintOutcome {
  confirmedBy: 'process-id' | 'status';
}

/** What the print queue needs from a printer (the queue is tested against this too). */
export interface PrinterPort {
  readonly model: PrinterModel;
  readonly connected: boolean;
  readonly ready: boolean;
  /** Changes on every (re)connect: lets the queue clear the buffer once per connection. */
  readonly connectionId: number;
  waitConnected(signal?: AbortSignal): Promise<void>;
  waitReady(signal?: AbortSignal): Promise<void>;
  print(data: Buffer, processId: string, opts?: { onWritten?: () => Promise<void> }): Promise<PrintOutcome>;
  clearBuffers(): Promise<boolean>;
}

export interface EscPosPrinterEvents {
  status: [status: PrinterStatus];
  state: [state: { state: PowerState; reason?: string }];
  error: [err: Error];
}

type Waiter<T> = { resolve: (v: T) => void; reject: (e: Error) => void };

const disconnected = (why: string) => new TransportError(TransportErrorCode.Disconnected, why);

export class EscPosPrinter extends EventEmitter<EscPosPrinterEvents> implements PrinterPort {
  readonly model: PrinterModel;
  readonly #t: Transport;
  readonly #log: Logger | undefined;
  readonly #pollMs: number;
  readonly #replyMs: number;
  readonly #jobMs: number;
  readonly #backoff: { minMs: number; maxMs: number };
  readonly #random: () => number;
  readonly #parser: StatusFrameParser;
  #running = false;
  #connId = 0;
  #bits: StatusBits = {};
  #status: PrinterStatus | undefined;
  #state: PowerState = 'off-offline';
  #pollTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #query: Promise<unknown> = Promise.resolve();
  #realtimeWaiter: Waiter<number> | undefined;
  #clearWaiter: Waiter<boolean> | undefined;
  readonly #jobs = new Map<string, Waiter<PrintOutcome> & { readySince: number | undefined }>();
  readonly #onData = (chunk: Buffer) => this.#parser.push(chunk);
  readonly #onClose = (info: TransportClose) => this.#closed(info);
  readonly #onError = (err: Error) => this.#log?.warn({ err }, 'printer transport error');

  constructor(ctx: EscPosPrinterContext) {
    super();
    this.model = ctx.model;
    this.#t = ctx.transport;
    this.#log = ctx.logger;
    this.#pollMs = ctx.statusPollMs ?? 3000;
    this.#replyMs = ctx.replyTimeoutMs ?? 2000;
    this.#jobMs = ctx.jobTimeoutMs ?? 120_000;
    this.#backoff = ctx.reconnect ?? { minMs: 250, maxMs: 30_000 };
    this.#random = ctx.random ?? Math.random;
    this.#parser = new StatusFrameParser((f) => this.#frame(f));
  }

  get connected(): boolean {
    return this.#t.isOpen;
  }
  get ready(): boolean {
    return this.connected && (this.#status?.ready ?? false);
  }
  get status(): PrinterStatus | undefined {
    return this.#status;
  }
  get state(): PowerState {
    return this.#state;
  }
  get connectionId(): number {
    return this.#connId;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#t.on('data', this.#onData);
    this.#t.on('close', this.#onClose);
    this.#t.on('error', this.#onError);
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#pollTimer);
    await this.#t.close().catch(() => {});
    this.#failAll(disconnected('printer driver stopped'));
    this.#t.off('data', this.#onData);
    this.#t.off('close', this.#onClose);
    this.#t.off('error', this.#onError);
  }

  // ---------------------------------------------------------------- connection

  async #connect(): Promise<void> {
    if (!this.#running || this.#t.isOpen) return;
    try {
      await this.#t.open();
    } catch (err) {
      this.#setState('off-offline', err instanceof Error ? err.message : String(err));
      return this.#scheduleReconnect();
    }
    if (!this.#running) return void this.#t.close();
    this.#attempt = 0;
    this.#connId++;
    this.#log?.info({ uri: this.#t.uri }, 'printer connected');
    try {
      if (this.model.asb) await this.#t.write(cmd.automaticStatusBack(0x0f));
      await this.refreshStatus();
    } catch (err) {
      this.#log?.warn({ err }, 'printer status after connect failed');
    }
    this.#pollTimer = setInterval(() => void this.#poll(), this.#pollMs);
    this.#pollTimer.unref();
    if (this.#status) this.emit('status', this.#status);
  }

  #scheduleReconnect(): void {
    if (!this.#running) return;
    // Jittered (lib/backoff.ts): printers of one store do not reconnect in lockstep; at least minMs/2.
    const delay = backoffDelay(this.#attempt++, { baseMs: this.#backoff.minMs, maxMs: this.#backoff.maxMs, floorMs: this.#backoff.minMs / 2, random: this.#random });
    this.#reconnectTimer = setTimeout(() => void this.#connect(), delay);
    this.#reconnectTimer.unref();
  }

  #closed(info: TransportClose): void {
    clearInterval(this.#pollTimer);
    this.#parser.flush();
    this.#log?.warn({ disconnected: info.disconnected, err: info.error }, 'printer connection closed');
    this.#failAll(disconnected(info.error ? `printer connection lost: ${info.error.message}` : 'printer connection lost'));
    this.#bits = {};
    this.#setState('off-offline', 'not connected');
    if (this.#status) {
      this.#status = { ...this.#status, ready: false, online: false, conditions: [...new Set([...this.#status.conditions, 'offline' as const])], source: 'transport', at: new Date().toISOString() };
      this.emit('status', this.#status);
    }
    this.#scheduleReconnect();
  }

  #failAll(err: Error): void {
    this.#realtimeWaiter?.reject(err);
    this.#realtimeWaiter = undefined;
    this.#clearWaiter?.resolve(false);
    this.#clearWaiter = undefined;
    for (const w of this.#jobs.values()) w.reject(err);
    this.#jobs.clear();
  }

  // ---------------------------------------------------------------- status

  async #poll(): Promise<void> {
    try {
      await this.refreshStatus();
    } catch (err) {
      this.#log?.debug({ err }, 'status poll failed');
    }
    const now = Date.now();
    for (const [id, w] of this.#jobs) {
      if (!this.ready) w.readySince = undefined;
      else if (w.readySince === undefined) w.readySince = now;
      else if (now - w.readySince > this.#jobMs) {
        this.#jobs.delete(id);
        w.reject(new TransportError(TransportErrorCode.Timeout, `printer did not confirm job ${id} within ${this.#jobMs} ms`));
      }
    }
  }

  /** DLE EOT 1..4 round trips (serialized); updates and emits the status. */
  refreshStatus(): Promise<PrinterStatus> {
    const run = async (): Promise<PrinterStatus> => {
      const bits: StatusBits = {};
      for (const n of [1, 2, 3, 4] as const) Object.assign(bits, parseRealtimeStatus(n, await this.#realtime(n)));
      this.#update(bits, 'dle-eot');
      return this.#status!;
    };
    const p = this.#query.then(run, run);
    this.#query = p.catch(() => {});
    return p;
  }

  #realtime(n: 1 | 2 | 3 | 4): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#realtimeWaiter = undefined;
        this.#update({ online: false }, 'dle-eot');
        reject(new TransportError(TransportErrorCode.Timeout, `no reply to DLE EOT ${n}`));
      }, this.#replyMs);
      this.#realtimeWaiter = {
        resolve: (b) => (clearTimeout(timer), resolve(b)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.#t.write(cmd.realtimeStatus(n)).catch((e: Error) => this.#realtimeWaiter?.reject(e));
    });
  }

  #update(bits: StatusBits, source: PrinterStatus['source']): void {
    this.#bits = { ...this.#bits, ...bits };
    const next = toPrinterStatus(this.#bits, { drawerOpenWhen: this.model.drawer?.openWhen ?? null, source });
    const prev = this.#status;
    this.#status = next;
    this.#setState(next.ready ? 'online' : 'offline', next.conditions.join(', ') || undefined);
    const same = prev && prev.ready === next.ready && prev.paper === next.paper && prev.drawer === next.drawer && prev.conditions.join() === next.conditions.join();
    if (!same) this.emit('status', next);
  }

  #setState(state: PowerState, reason?: string): void {
    if (state === this.#state) return;
    this.#state = state;
    this.emit('state', reason ? { state, reason } : { state });
  }

  #frame(f: InboundFrame): void {
    switch (f.kind) {
      case 'realtime': {
        const w = this.#realtimeWaiter;
        this.#realtimeWaiter = undefined;
        w?.resolve(f.byte);
        return;
      }
      case 'asb':
        return this.#update(parseAsb(f.bytes), 'asb');
      case 'process-id': {
        const w = this.#jobs.get(f.id);
        this.#jobs.delete(f.id);
        w?.resolve({ confirmedBy: 'process-id' });
        return;
      }
      case 'buffer-cleared':
        this.#clearWaiter?.resolve(true);
        this.#clearWaiter = undefined;
        return;
      case 'unknown':
        this.#log?.debug({ hex: f.bytes.toString('hex') }, 'unexpected bytes from printer');
    }
  }

  // ---------------------------------------------------------------- waiting

  #until(pred: () => boolean, signal?: AbortSignal): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        cleanup();
        resolve();
      };
      const abort = () => {
        cleanup();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      const cleanup = () => {
        this.off('status', check);
        this.off('state', check);
        signal?.removeEventListener('abort', abort);
      };
      this.on('status', check);
      this.on('state', check);
      signal?.addEventListener('abort', abort, { once: true });
      if (signal?.aborted) abort();
    });
  }
  waitConnected(signal?: AbortSignal): Promise<void> {
    return this.#until(() => this.connected && this.#status !== undefined, signal);
  }
  waitReady(signal?: AbortSignal): Promise<void> {
    return this.#until(() => this.ready, signal);
  }

  // ---------------------------------------------------------------- printing

  /**
   * Sends a job and resolves when the printer confirms it printed: with the
   * process ID response when the model has GS ( H, otherwise after a status
   * round trip shows no error (weaker: the data reached the printer).
   * Rejects with a TransportError (disconnected / timeout) otherwise.
   */
  async print(data: Buffer, processId: string, opts: { onWritten?: () => Promise<void> } = {}): Promise<PrintOutcome> {
    if (!this.connected) throw new TransportError(TransportErrorCode.NotOpen, 'printer not connected');
    if (!this.model.processIdResponse) {
      await this.#t.write(data);
      await opts.onWritten?.();
      const s = await this.refreshStatus();
      if (!s.online || s.conditions.some((c) => c.endsWith('error'))) throw new TransportError(TransportErrorCode.WriteFailed, `printer reports ${s.conditions.join(', ')}`, { retryable: true });
      return { confirmedBy: 'status' };
    }
    const done = new Promise<PrintOutcome>((resolve, reject) => this.#jobs.set(processId, { resolve, reject, readySince: undefined }));
    // The link may drop while onWritten is still fsyncing: the caller awaits `done` after that.
    done.catch(() => {});
    try {
      await this.#t.write(Buffer.concat([data, cmd.processId(processId)]));
      await opts.onWritten?.();
    } catch (err) {
      this.#jobs.delete(processId);
      throw err;
    }
    return done;
  }

  /** DLE DC4 fn 8: drops whatever a cut connection left in the printer's buffers. */
  async clearBuffers(): Promise<boolean> {
    if (!this.connected) throw new TransportError(TransportErrorCode.NotOpen, 'printer not connected');
    const answered = new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => ((this.#clearWaiter = undefined), resolve(false)), this.#replyMs);
      this.#clearWaiter = { resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)) };
    });
    await this.#t.write(cmd.clearBuffers());
    return answered;
  }

  /**
   * Opens the drawer. Real time (DLE DC4 fn 1) by default so a drawer opens
   * even while the printer is out of paper; `queued: true` uses ESC p, which
   * fires in order after what is already in the buffer.
   */
  async kickDrawer(opts: { pin?: cmd.DrawerPin; onMs?: number; queued?: boolean } = {}): Promise<void> {
    const d = this.model.drawer;
    if (!d) throw new Error(`${this.model.name} has no drawer kick connector`);
    const pin = opts.pin ?? d.pins[0] ?? 2;
    if (!this.connected) throw new TransportError(TransportErrorCode.NotOpen, 'printer not connected');
    await this.#t.write(opts.queued ? cmd.drawerKick(pin, opts.onMs ?? 100) : cmd.drawerKickRealtime(pin, opts.onMs ?? 100));
  }
}
