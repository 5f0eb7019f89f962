// The one retry delay of tillbox: exponential backoff with jitter, so a fleet
// of boxes (or the processes of one box) that lost the same peer does not
// come back in lockstep (STYLE item 15; "full jitter", AWS Architecture Blog,
// "Exponential Backoff And Jitter", 2015).
//
//   ceiling = min(maxMs, baseMs * 2^attempt)
//   delay   = floorMs + random() * (ceiling - floorMs)
//
// floorMs 0 (the default) is full jitter. A floor keeps a minimum pause where
// an immediate retry is useless (restarting a crashed child, reopening a
// device): the supervisor, the device runners and bus use floorMs = baseMs.

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Lower bound of every delay (default 0: full jitter). */
  floorMs?: number;
  /** Uniform [0, 1); injectable for tests. */
  random?: () => number;
}

/** The delay for a given attempt (0 = first retry). */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const floor = Math.min(opts.floorMs ?? 0, opts.maxMs);
  const ceiling = Math.max(floor, backoffCeiling(attempt, opts));
  return Math.floor(floor + (opts.random ?? Math.random)() * (ceiling - floor));
}

/** The ceiling of the delay for an attempt (before jitter). */
export function backoffCeiling(attempt: number, opts: Pick<BackoffOptions, 'baseMs' | 'maxMs'>): number {
  // 2^31 is already past any sane cap; keep the exponent bounded.
  return Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(attempt, 31));
}

/** A backoff that counts its own attempts. */
export class Backoff {
  readonly #opts: BackoffOptions;
  #attempt = 0;

  constructor(opts: BackoffOptions) {
    if (!(opts.baseMs > 0) || !(opts.maxMs >= opts.baseMs)) throw new RangeError('backoff needs 0 < baseMs <= maxMs');
    this.#opts = opts;
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** The ceiling of the next delay (before jitter). */
  ceiling(): number {
    return backoffCeiling(this.#attempt, this.#opts);
  }

  /** The next delay in ms, and count the attempt. */
  next(): number {
    const delay = backoffDelay(this.#attempt, this.#opts);
    this.#attempt += 1;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
