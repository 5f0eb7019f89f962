// Status LED pattern player: online steady, offline slow blink, sync backlog
// fast blink. A pattern is a list of (level, duration) steps played in a loop
// with injected timers; a new pattern starts at its first step immediately.
import type { GpioLine, Level } from './binding.ts';
import { realTimers, type Timers } from './timers.ts';

export type LedPattern = readonly (readonly [Level, number])[];

export const LED_PATTERNS = {
  off: [[0, 0]],
  online: [[1, 0]],
  offline: [
    [1, 1000],
    [0, 1000],
  ],
  backlog: [
    [1, 100],
    [0, 100],
  ],
  error: [
    [1, 100],
    [0, 100],
    [1, 100],
    [0, 700],
  ],
} as const satisfies Record<string, LedPattern>;
export type LedPatternName = keyof typeof LED_PATTERNS;

export class PatternPlayer {
  readonly #line: Pick<GpioLine, 'write'>;
  readonly #timers: Timers;
  readonly #onError: (err: Error) => void;
  #pattern: LedPattern = LED_PATTERNS.off;
  #name: string = 'off';
  #step = 0;
  #timer: unknown;

  constructor(ctx: { line: Pick<GpioLine, 'write'>; timers?: Timers; onError?: (err: Error) => void }) {
    this.#line = ctx.line;
    this.#timers = ctx.timers ?? realTimers;
    this.#onError = ctx.onError ?? (() => {});
  }

  get pattern(): string {
    return this.#name;
  }

  play(name: LedPatternName | string, pattern: LedPattern = LED_PATTERNS[name as LedPatternName]): void {
    if (!pattern || pattern.length === 0) throw new Error(`unknown LED pattern ${name}`);
    if (name === this.#name && pattern === this.#pattern) return;
    this.#name = name;
    this.#pattern = pattern;
    this.#step = 0;
    this.#tick();
  }

  stop(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    this.stop();
    const [level, ms] = this.#pattern[this.#step]!;
    this.#line.write(level).catch((e: Error) => this.#onError(e));
    // A zero duration on a one-step pattern means "hold"; no timer needed.
    if (this.#pattern.length === 1) return;
    this.#timer = this.#timers.setTimeout(() => {
      this.#step = (this.#step + 1) % this.#pattern.length;
      this.#tick();
    }, ms);
  }
}
