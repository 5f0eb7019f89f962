// One supervisor per peripheral (STYLE.md item 6: lifecycle, errors isolated).
// It owns the driver instance of one peripheral, publishes its births and
// deaths, restarts it alone with jittered backoff when it fails, and stops it
// when the device is unplugged. Every transition runs on one promise chain
// per peripheral, so a storm of attach/detach events is applied in order and
// never leaves two driver instances alive. Hooks of an old driver instance
// (a late 'down' after it was replaced) are ignored by generation.
import { DeviceErrorCode } from '../../contract/errors.ts';
import { backoffDelay } from '../../lib/backoff.ts';
import type { PeripheralKind, PeripheralState, PowerState } from '../../contract/devices.ts';
import type { Logger } from '../log.ts';
import type { CommandResult } from './bus.ts';

export interface PeripheralSpec {
  id: string;
  kind: PeripheralKind;
  uri: string;
  protocol?: string;
  vendor?: string;
  model?: string;
  serialNumber?: string;
  /** configured in `peripherals`, or found by hotplug. */
  source: 'config' | 'discovered';
  /** Kind-specific settings from the config entry (printer model, scanner mode, drawer's printer ...). */
  options: Record<string, unknown>;
}

export interface DriverHooks {
  /** Publish .../{event}. */
  event(name: string, payload: unknown): void;
  /** For drivers that track their own connection (printers): report the power state. */
  state(state: PowerState, reason?: string): void;
  /** The device is gone or the driver broke: the runner stops it and restarts it with backoff. */
  down(reason: string, err?: unknown): void;
}

export interface DriverHandle {
  /** Resolves when the device can be used; a rejection is retried with backoff. */
  start(): Promise<void>;
  /** Must release everything (listeners, ports, timers); never rejects in practice. */
  stop(): Promise<void>;
  /** True when the driver reports its power state itself through hooks.state(). */
  readonly selfState?: boolean;
  command?(name: string, args: unknown, correlation: string): Promise<CommandResult>;
  /**
   * Re-reads state the driver derives from another peripheral (a drawer from
   * its printer). Internal to the devices process: never an MQTT command.
   */
  refresh?(): void;
}

export type DriverFactory = (spec: PeripheralSpec, hooks: DriverHooks) => DriverHandle;

export interface StateSink {
  setState(state: PeripheralState): void;
  publishEvent(peripheralId: string, event: string, payload: unknown): void;
}

export interface RunnerContext {
  spec: PeripheralSpec;
  factory: DriverFactory;
  sink: StateSink;
  log: Logger;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A driver that stays up this long has its backoff reset. Default 10 s. */
  healthyAfterMs?: number;
  random?: () => number;
  /** Bound on a driver's stop(). Default 3 s. */
  stopTimeoutMs?: number;
}

export class PeripheralRunner {
  readonly spec: PeripheralSpec;
  readonly #ctx: RunnerContext;
  #wanted = false;
  #driver: DriverHandle | undefined;
  #gen = 0;
  #chain: Promise<void> = Promise.resolve();
  #retry: NodeJS.Timeout | undefined;
  #healthy: NodeJS.Timeout | undefined;
  #attempt = 0;
  #state: PeripheralState;
  #disposed = false;
  /** Generation whose driver reported down (a disconnect may arrive while start() is still pending). */
  #downGen = -1;
  /** Drivers started over the runner's life (tests check for leaks with this and `live`). */
  starts = 0;

  constructor(ctx: RunnerContext) {
    this.#ctx = ctx;
    this.spec = ctx.spec;
    this.#state = this.#make('off-offline', 'not started');
  }

  get state(): PeripheralState {
    return this.#state;
  }
  /** True while a driver instance exists (started or starting). */
  get live(): boolean {
    return this.#driver !== undefined;
  }
  get wanted(): boolean {
    return this.#wanted;
  }

  /** The device is present: start its driver (no-op when already running). */
  attach(): Promise<void> {
    this.#wanted = true;
    return this.#enqueue(() => this.#reconcile());
  }

  /** The device went away (unplugged) or was removed from config. */
  detach(reason = 'unplugged'): Promise<void> {
    this.#wanted = false;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    return this.#enqueue(() => this.#reconcile(reason));
  }

  async dispose(reason = 'devices process stopped'): Promise<void> {
    await this.detach(reason);
    this.#disposed = true;
  }

  /** Internal: the host tells a dependent driver that what it follows changed. */
  refresh(): void {
    this.#driver?.refresh?.();
  }

  async command(name: string, args: unknown, correlation: string): Promise<CommandResult> {
    const d = this.#driver;
    if (name === 'status') {
      const extra = d?.command ? await d.command('status', args, correlation).catch(() => undefined) : undefined;
      const data = extra?.status === 'ok' && typeof extra.data === 'object' && extra.data !== null ? extra.data : {};
      return { status: 'ok', data: { ...data, ...this.#state } };
    }
    if (!d?.command) {
      if (!d && this.#wanted === false) return { status: 'error', error: { code: DeviceErrorCode.Offline, message: `${this.spec.id} is not connected`, retryable: true } };
      if (!d)
        return {
          status: 'error',
          error: { code: DeviceErrorCode.Offline, message: `${this.spec.id} is ${this.#state.state}${this.#state.reason ? ` (${this.#state.reason})` : ''}`, retryable: true },
        };
      return { status: 'error', error: { code: DeviceErrorCode.CommandUnknown, message: `${this.spec.kind} ${this.spec.id} has no command ${JSON.stringify(name)}` } };
    }
    return d.command(name, args, correlation);
  }

  #enqueue(op: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(op).catch((err: unknown) => this.#ctx.log.error({ err, peripheral: this.spec.id }, 'peripheral transition failed'));
    this.#chain = next;
    return next;
  }

  async #reconcile(reason?: string): Promise<void> {
    if (this.#disposed) return;
    if (!this.#wanted) {
      await this.#stopDriver();
      if (this.#state.state !== 'off-offline' || reason) this.#set('off-offline', reason ?? 'stopped');
      return;
    }
    if (this.#driver) return;
    const gen = ++this.#gen;
    const log = this.#ctx.log;
    const hooks: DriverHooks = {
      event: (name, payload) => {
        if (gen !== this.#gen) return;
        try {
          this.#ctx.sink.publishEvent(this.spec.id, name, payload);
        } catch (err) {
          log.error({ err, peripheral: this.spec.id, event: name }, 'publishing an event failed');
        }
      },
      state: (state, why) => {
        if (gen === this.#gen && this.#driver) this.#set(state, why);
      },
      down: (why, err) => {
        if (gen !== this.#gen || this.#downGen === gen) return;
        this.#downGen = gen;
        log.warn({ peripheral: this.spec.id, reason: why, err }, 'peripheral down');
        this.#set('offline', why);
        void this.#enqueue(async () => {
          if (gen !== this.#gen) return;
          await this.#stopDriver();
          this.#scheduleRetry();
        });
      },
    };
    let driver: DriverHandle;
    try {
      driver = this.#ctx.factory(this.spec, hooks);
    } catch (err) {
      // A factory that cannot build this peripheral (unsupported URI) will not get better by retrying fast.
      this.#set('error', errorText(err));
      this.#scheduleRetry();
      return;
    }
    this.#driver = driver;
    this.starts++;
    try {
      if (!driver.selfState) this.#set('off-offline', 'starting');
      else this.#set('off-offline', 'connecting');
      await driver.start();
    } catch (err) {
      log.warn({ peripheral: this.spec.id, err: errorText(err) }, 'peripheral driver failed to start');
      await this.#stopDriver();
      this.#set('error', errorText(err));
      this.#scheduleRetry();
      return;
    }
    // Replaced meanwhile, or the device went away while start() was still pending (its
    // close {disconnected:true} already set 'offline' and queued the stop and retry).
    if (gen !== this.#gen || this.#downGen === gen) return;
    if (!driver.selfState) this.#set('online');
    clearTimeout(this.#healthy);
    this.#healthy = setTimeout(() => (this.#attempt = 0), this.#ctx.healthyAfterMs ?? 10_000);
    this.#healthy.unref();
  }

  async #stopDriver(): Promise<void> {
    const d = this.#driver;
    this.#driver = undefined;
    this.#gen++;
    clearTimeout(this.#healthy);
    if (!d) return;
    try {
      // A driver whose stop hangs (a port that never reports close after an unplug) must not
      // block this peripheral's transitions forever: give it a bounded time, then move on.
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.#ctx.log.warn({ peripheral: this.spec.id }, 'driver stop did not finish; abandoned');
          resolve();
        }, this.#ctx.stopTimeoutMs ?? 3000);
      });
      await Promise.race([d.stop(), limit]);
      clearTimeout(timer);
    } catch (err) {
      this.#ctx.log.warn({ err, peripheral: this.spec.id }, 'driver stop failed');
    }
  }

  #scheduleRetry(): void {
    if (!this.#wanted || this.#disposed) return;
    clearTimeout(this.#retry);
    const min = this.#ctx.minBackoffMs ?? 250;
    const max = this.#ctx.maxBackoffMs ?? 30_000;
    const delay = backoffDelay(this.#attempt++, { baseMs: min, maxMs: max, floorMs: min, ...(this.#ctx.random ? { random: this.#ctx.random } : {}) });
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.#enqueue(() => this.#reconcile());
    }, delay);
    this.#retry.unref();
  }

  #make(state: PowerState, reason?: string): PeripheralState {
    const s = this.spec;
    const out: PeripheralState = { id: s.id, kind: s.kind, state, uri: s.uri, since: new Date().toISOString() };
    if (s.protocol) out.protocol = s.protocol;
    if (s.vendor) out.vendor = s.vendor;
    if (s.model) out.model = s.model;
    if (s.serialNumber) out.serialNumber = s.serialNumber;
    if (reason) out.reason = reason.slice(0, 500);
    return out;
  }

  #set(state: PowerState, reason?: string): void {
    if (this.#state.state === state && this.#state.reason === reason) return;
    this.#state = this.#make(state, reason);
    try {
      this.#ctx.sink.setState(this.#state);
    } catch (err) {
      this.#ctx.log.error({ err, peripheral: this.spec.id }, 'publishing a state failed');
    }
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
