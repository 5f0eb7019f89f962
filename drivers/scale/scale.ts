// Scale driver: a protocol (parser + request functions) over a Transport,
// with a poll loop that emits 'weight' on change, serialised zero/tare
// commands, and `auto` probing. Lifecycle per STYLE.md item 6.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { WeightReading, WeightUnit } from '../../contract/devices/scale.ts';
import type { Transport, TransportClose } from '../transports/transport.ts';
import type { Framing } from '../transports/uri.ts';
import { cas } from './cas.ts';
import { nci } from './nci.ts';
import { sics } from './sics.ts';
import { toledo8217 } from './toledo8217.ts';
import { SCALE_PROTOCOLS, ScaleError, ScaleErrorCode, isScaleError, type FrameParser, type ScaleFrame, type ScaleIo, type ScaleProtocol, type ScaleProtocolName } from './types.ts';

export const scaleProtocols: Readonly<Record<ScaleProtocolName, ScaleProtocol>> = { sics, toledo8217, cas, nci };

export function getScaleProtocol(name: string): ScaleProtocol {
  const p = scaleProtocols[name as ScaleProtocolName];
  if (!p) throw new TypeError(`unknown scale protocol ${JSON.stringify(name)} (known: ${SCALE_PROTOCOLS.join(', ')}, auto)`);
  return p;
}

/**
 * Only a stable, in-range, non-negative weight may be sold (legal-for-trade
 * rule, e.g. OIML R 76 / EU NAWI: no printing/transfer while in motion or
 * outside the weighing range). Returns the reading or throws NOT_SELLABLE.
 */
export function sellableWeight(r: WeightReading): WeightReading & { value: string } {
  const why = r.overload ? 'overload' : r.underZero ? 'under zero' : !r.stable ? 'in motion' : r.value === null ? 'no weight' : /^0+(\.0+)?$/.test(r.value) ? 'zero weight' : undefined;
  if (why) throw new ScaleError(ScaleErrorCode.NotSellable, `weight is not sellable: ${why}`, false);
  return r as WeightReading & { value: string };
}

/** A stable zero (UnifiedPOS-style status `zero`, types.ts makeReading): an empty scale. */
export function isEmptyReading(r: WeightReading): boolean {
  return r.status === 'zero';
}

/** Frame queue between a transport and a protocol's request functions. */
export class TransportScaleIo implements ScaleIo {
  readonly #transport: Transport;
  readonly #parser: FrameParser;
  readonly #defaultTimeout: number;
  #frames: ScaleFrame[] = [];
  #waiter: { resolve: (f: ScaleFrame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  #closed = false;
  readonly #onData = (chunk: Buffer): void => {
    for (const f of this.#parser.push(chunk)) this.#deliver(f);
  };
  readonly #onClose = (info: TransportClose): void => {
    this.#closed = true;
    this.#fail(new ScaleError(ScaleErrorCode.Closed, info.disconnected ? 'scale disconnected' : 'scale port closed', false));
  };

  constructor(transport: Transport, parser: FrameParser, defaultTimeoutMs = 1000) {
    this.#transport = transport;
    this.#parser = parser;
    this.#defaultTimeout = defaultTimeoutMs;
    transport.on('data', this.#onData);
    transport.on('close', this.#onClose);
  }

  detach(): void {
    this.#transport.off('data', this.#onData);
    this.#transport.off('close', this.#onClose);
    this.#fail(new ScaleError(ScaleErrorCode.Closed, 'scale driver stopped', false));
  }

  async write(data: Uint8Array | string): Promise<void> {
    if (this.#closed) throw new ScaleError(ScaleErrorCode.Closed, 'scale port closed', false);
    await this.#transport.write(data);
  }

  next(timeoutMs = this.#defaultTimeout): Promise<ScaleFrame> {
    const f = this.#frames.shift();
    if (f) return Promise.resolve(f);
    if (this.#closed) return Promise.reject(new ScaleError(ScaleErrorCode.Closed, 'scale port closed', false));
    if (this.#waiter) return Promise.reject(new Error('TransportScaleIo.next called concurrently'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(this.#timeoutError(timeoutMs));
      }, timeoutMs);
      this.#waiter = { resolve, reject, timer };
    });
  }

  drain(): void {
    this.#frames = [];
    this.#parser.reset();
    this.#parser.takeGarbage();
  }

  #deliver(f: ScaleFrame): void {
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      clearTimeout(w.timer);
      w.resolve(f);
    } else if (this.#frames.length < 16) this.#frames.push(f);
  }

  #fail(err: Error): void {
    const w = this.#waiter;
    if (!w) return;
    this.#waiter = undefined;
    clearTimeout(w.timer);
    w.reject(err);
  }

  #timeoutError(ms: number): ScaleError {
    const g = this.#parser.takeGarbage();
    if (g.bytes > 0 && g.highBit > 0) {
      return new ScaleError(
        ScaleErrorCode.Framing,
        `no valid frame within ${ms} ms: ${g.bytes} byte(s) received, ${g.highBit} with bit 7 set — the scale probably sends 7 data bits with parity (7E1/7O1) while the port is 8N1; set framing= in the URI`,
      );
    }
    if (g.bytes > 0) return new ScaleError(ScaleErrorCode.Framing, `no valid frame within ${ms} ms: ${g.bytes} unreadable byte(s) — wrong baud rate, framing or protocol?`);
    return new ScaleError(ScaleErrorCode.Timeout, `no answer from the scale within ${ms} ms (powered off, wrong cable, baud rate, framing or protocol?)`);
  }
}

export interface ScaleContext {
  transport: Transport;
  protocol: ScaleProtocolName;
  logger?: Logger;
  /** Unit for protocols whose frames carry none (8217) and for status-only readings. Default 'kg'. */
  unit?: WeightUnit;
  /** Pause between polls; default 200 ms. */
  pollIntervalMs?: number;
  /**
   * Pause between polls once the scale has read a stable zero (empty) for
   * `idleAfterMs` (default 500 ms after 2000 ms). An empty scale is most of a
   * store's day, and polling it five times a second was most of the idle box's
   * CPU (issue 14). Safe for selling: a zero reading is never sellable, so a
   * slower poll can only delay the first weight by up to this long, never put
   * a stale weight into a sale; any other reading brings the fast poll back.
   */
  idlePollIntervalMs?: number;
  idleAfterMs?: number;
  /** How long to wait for an answer; default 1000 ms. */
  responseTimeoutMs?: number;
  now?: () => Date;
}

export interface ScaleEvents {
  /** A reading that differs from the last one (value, unit or any flag). */
  weight: [reading: WeightReading];
  /** Poll or command problems (timeouts, framing, refused). Emitted when the error changes, not every poll. */
  error: [err: Error];
  close: [info: TransportClose];
}

export class ScaleDriver extends EventEmitter<ScaleEvents> {
  readonly #ctx: ScaleContext;
  readonly #protocol: ScaleProtocol;
  #io: TransportScaleIo | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #sleep: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  #lock: Promise<unknown> = Promise.resolve();
  #last: string | undefined;
  #lastReading: WeightReading | undefined;
  #lastError: string | undefined;
  /** When the readings became a stable zero (monotonic ms), undefined while they are anything else. */
  #emptySince: number | undefined;
  readonly #onClose = (info: TransportClose): void => {
    this.#halt();
    this.emit('close', info);
  };

  constructor(ctx: ScaleContext) {
    super();
    this.#ctx = ctx;
    this.#protocol = getScaleProtocol(ctx.protocol);
  }

  get protocol(): ScaleProtocol {
    return this.#protocol;
  }

  /** Last reading seen (also while unchanged). */
  get lastReading(): WeightReading | undefined {
    return this.#lastReading;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    const t = this.#ctx.transport;
    this.#io = new TransportScaleIo(t, this.#protocol.createParser({ unit: this.#ctx.unit ?? 'kg' }), this.#ctx.responseTimeoutMs ?? 1000);
    t.on('close', this.#onClose);
    try {
      if (!t.isOpen) await t.open();
    } catch (err) {
      this.#halt();
      throw err;
    }
    this.#running = true;
    this.#loop = this.#pollLoop();
  }

  async stop(): Promise<void> {
    this.#halt();
    await this.#loop;
    await this.#ctx.transport.close();
  }

  /** One reading now (serialised with the poll loop). */
  read(): Promise<WeightReading> {
    return this.#exclusive(async (io) => this.#stamp(await this.#protocol.weigh(io)));
  }

  zero(): Promise<void> {
    if (!this.#protocol.supports.zero) return Promise.reject(new ScaleError(ScaleErrorCode.Unsupported, `${this.#protocol.name}: no zero command in this protocol`, false));
    return this.#exclusive((io) => this.#protocol.zero(io));
  }

  tare(): Promise<void> {
    if (!this.#protocol.supports.tare) return Promise.reject(new ScaleError(ScaleErrorCode.Unsupported, `${this.#protocol.name}: no tare command in this protocol`, false));
    return this.#exclusive((io) => this.#protocol.tare(io));
  }

  #halt(): void {
    this.#running = false;
    this.#ctx.transport.off('close', this.#onClose);
    this.#io?.detach();
    if (this.#sleep) {
      clearTimeout(this.#sleep.timer);
      this.#sleep.resolve();
      this.#sleep = undefined;
    }
  }

  /** The pause before the next poll: the idle one while the scale has been empty long enough. */
  get pollDelayMs(): number {
    const fast = this.#ctx.pollIntervalMs ?? 200;
    const since = this.#emptySince;
    if (since === undefined || performance.now() - since < (this.#ctx.idleAfterMs ?? 2000)) return fast;
    return Math.max(fast, this.#ctx.idlePollIntervalMs ?? 500);
  }

  #exclusive<T>(fn: (io: ScaleIo) => Promise<T>): Promise<T> {
    const run = this.#lock.then(async () => {
      const io = this.#io;
      if (!io || !this.#ctx.transport.isOpen) throw new ScaleError(ScaleErrorCode.Closed, 'scale is not started', false);
      try {
        return await fn(io);
      } catch (err) {
        io.drain(); // a late answer to a failed request must not be read as the next one's
        throw err;
      }
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  #stamp(r: WeightReading): WeightReading {
    return { ...r, at: (this.#ctx.now?.() ?? new Date()).toISOString() };
  }

  async #pollLoop(): Promise<void> {
    while (this.#running) {
      try {
        const reading = await this.read();
        this.#lastError = undefined;
        this.#lastReading = reading;
        this.#emptySince = isEmptyReading(reading) ? (this.#emptySince ?? performance.now()) : undefined;
        const { at: _at, ...key } = reading;
        const k = JSON.stringify(key);
        if (k !== this.#last) {
          this.#last = k;
          this.emit('weight', reading);
        }
      } catch (err) {
        this.#emptySince = undefined;
        if (!this.#running) break;
        const e = err as Error & { code?: string };
        const sig = `${e.code ?? ''}:${e.message}`;
        if (sig !== this.#lastError) {
          this.#lastError = sig;
          this.#ctx.logger?.warn({ err: e, uri: this.#ctx.transport.uri }, 'scale poll failed');
          if (this.listenerCount('error') > 0) this.emit('error', e);
        }
      }
      if (!this.#running) break;
      await new Promise<void>((resolve) => {
        this.#sleep = { timer: setTimeout(resolve, this.pollDelayMs), resolve };
      });
      this.#sleep = undefined;
    }
  }
}

export interface ProbeCandidate {
  protocol: ScaleProtocolName;
  baudRate: number;
  framing: Framing;
}

/** Candidates for `auto`, each at its protocol's default line settings. */
export function defaultProbeCandidates(): ProbeCandidate[] {
  return SCALE_PROTOCOLS.map((p) => ({ protocol: p, ...scaleProtocols[p].defaults }));
}

/**
 * `auto`: try each protocol in turn with a short timeout; the first that gets
 * any well-formed answer (a weight, or an overload/motion status) wins.
 * `open` builds a fresh transport per candidate (line settings differ).
 */
export async function probeScale(
  open: (c: ProbeCandidate) => Promise<Transport>,
  opts: { candidates?: ProbeCandidate[]; timeoutMs?: number; unit?: WeightUnit; logger?: Logger } = {},
): Promise<{ candidate: ProbeCandidate; reading: WeightReading } | undefined> {
  for (const c of opts.candidates ?? defaultProbeCandidates()) {
    const p = getScaleProtocol(c.protocol);
    let t: Transport | undefined;
    let io: TransportScaleIo | undefined;
    try {
      t = await open(c);
      if (!t.isOpen) await t.open();
      io = new TransportScaleIo(t, p.createParser({ unit: opts.unit ?? 'kg' }), opts.timeoutMs ?? 400);
      // Two attempts: the previous candidate's bytes may sit in the scale's
      // line buffer, and the first answer is then an error that clears it.
      for (let attempt = 0; ; attempt++) {
        try {
          const reading = await p.weigh(io);
          return { candidate: c, reading };
        } catch (err) {
          if (attempt >= 1 || !isScaleError(err, ScaleErrorCode.Protocol)) throw err;
          io.drain();
        }
      }
    } catch (err) {
      opts.logger?.debug({ err, protocol: c.protocol }, 'scale probe failed');
    } finally {
      io?.detach();
      await t?.close().catch(() => {});
    }
  }
  return undefined;
}
