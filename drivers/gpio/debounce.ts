// Debounced input: a mechanical contact (drawer sensor, button) bounces for a
// few ms; a new level is reported only after it held for `debounceMs`.
import { EventEmitter } from 'node:events';
import type { GpioLine, Level } from './binding.ts';
import { realTimers, type Timers } from './timers.ts';

export class DebouncedInput extends EventEmitter<{ change: [level: Level]; error: [err: Error] }> {
  readonly #line: GpioLine;
  readonly #ms: number;
  readonly #timers: Timers;
  #stable: Level | undefined;
  #candidate: Level | undefined;
  #timer: unknown;

  constructor(ctx: { line: GpioLine; debounceMs?: number; timers?: Timers }) {
    super();
    this.#line = ctx.line;
    this.#ms = ctx.debounceMs ?? 30;
    if (!(this.#ms >= 0)) throw new RangeError('debounceMs must be >= 0');
    this.#timers = ctx.timers ?? realTimers;
  }

  get level(): Level | undefined {
    return this.#stable;
  }

  async start(): Promise<Level> {
    this.#stable = await this.#line.read();
    this.#line.watch((err, v) => {
      if (err) return void this.emit('error', err);
      this.#edge(v);
    });
    return this.#stable;
  }

  stop(): void {
    this.#line.unwatchAll();
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #edge(v: Level): void {
    this.#candidate = v;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      const c = this.#candidate;
      if (c !== undefined && c !== this.#stable) {
        this.#stable = c;
        this.emit('change', c);
      }
    }, this.#ms);
  }
}
