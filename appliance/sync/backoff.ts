// Reconnect and retry delays: exponential backoff with full jitter
// (delay = random(0, min(cap, base * 2^attempt))), so a fleet of boxes that
// lost the same broker does not come back in lockstep (STYLE item 15).

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Uniform [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  readonly #opts: BackoffOptions;
  readonly #random: () => number;
  #attempt = 0;

  constructor(opts: BackoffOptions) {
    if (!(opts.baseMs > 0) || !(opts.maxMs >= opts.baseMs)) throw new RangeError('backoff needs 0 < baseMs <= maxMs');
    this.#opts = opts;
    this.#random = opts.random ?? Math.random;
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** The ceiling of the next delay (before jitter). */
  ceiling(): number {
    // 2^31 is already past any sane cap; keep the exponent bounded.
    return Math.min(this.#opts.maxMs, this.#opts.baseMs * 2 ** Math.min(this.#attempt, 31));
  }

  /** The next delay in ms (full jitter) and count the attempt. */
  next(): number {
    const delay = Math.floor(this.#random() * this.ceiling());
    this.#attempt += 1;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
