// Cash drawer wired to GPIO: an output drives the solenoid (through a driver
// transistor/relay) for a pulse, an optional debounced input reads the
// drawer's switch. Timers are injected so the pulse is tested without sleeping.
import { EventEmitter } from 'node:events';
import type { DrawerOpenArgs, DrawerStatus } from '../../contract/devices/drawer.ts';
import type { GpioLine, Level } from '../gpio/binding.ts';
import type { DebouncedInput } from '../gpio/debounce.ts';
import { realTimers, type Timers } from '../gpio/timers.ts';

export interface GpioDrawerContext {
  solenoid: GpioLine;
  sensor?: DebouncedInput;
  /** Input level that means "open". Default 1. */
  openLevel?: Level;
  timers?: Timers;
}

export class GpioDrawer extends EventEmitter<{ status: [s: DrawerStatus] }> {
  readonly #out: GpioLine;
  readonly #sensor: DebouncedInput | undefined;
  readonly #openLevel: Level;
  readonly #timers: Timers;
  #pulsing = false;
  readonly #onChange = (v: Level) => this.emit('status', this.#status(v));

  constructor(ctx: GpioDrawerContext) {
    super();
    this.#out = ctx.solenoid;
    this.#sensor = ctx.sensor;
    this.#openLevel = ctx.openLevel ?? 1;
    this.#timers = ctx.timers ?? realTimers;
  }

  get drawer(): DrawerStatus['drawer'] {
    const l = this.#sensor?.level;
    return l === undefined ? 'unknown' : l === this.#openLevel ? 'open' : 'closed';
  }

  async start(): Promise<void> {
    await this.#out.write(0);
    if (this.#sensor) {
      this.#sensor.on('change', this.#onChange);
      this.emit('status', this.#status(await this.#sensor.start()));
    }
  }
  stop(): void {
    this.#sensor?.off('change', this.#onChange);
    this.#sensor?.stop();
  }

  /** Pulses the solenoid; a second open while one pulse runs is a no-op (never a stuck-on coil). */
  async open(args: DrawerOpenArgs = {}): Promise<{ pulsed: boolean; drawer: DrawerStatus['drawer'] }> {
    if (this.#pulsing) return { pulsed: false, drawer: this.drawer };
    this.#pulsing = true;
    try {
      await this.#out.write(1);
      await new Promise<void>((r) => this.#timers.setTimeout(r, args.pulseMs ?? 100));
    } finally {
      await this.#out.write(0).finally(() => (this.#pulsing = false));
    }
    return { pulsed: true, drawer: this.drawer };
  }

  #status(v: Level): DrawerStatus {
    return { drawer: v === this.#openLevel ? 'open' : 'closed', via: 'gpio', at: new Date().toISOString() };
  }
}
