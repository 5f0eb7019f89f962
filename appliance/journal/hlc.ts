// Hybrid logical clock (Kulkarni et al. 2014): physical milliseconds plus a
// counter, so timestamps follow wall time when it behaves and still never go
// back when it does not (NTP step, dead RTC battery, restart with an early clock).
//
// Encoding: `<wallMs 15 digits>-<counter 10 digits>-<deviceId>`. Fixed-width
// zero padding makes plain string comparison equal causal order; the device id
// breaks ties between boxes so two devices never produce equal stamps.

export interface HlcTimestamp {
  wallMs: number;
  counter: number;
  deviceId: string;
}

const WALL_DIGITS = 15;
const COUNTER_DIGITS = 10;
const MAX_COUNTER = 10 ** COUNTER_DIGITS - 1;
const HLC_RE = /^(\d{15})-(\d{10})-(.+)$/;

export function encodeHlc(ts: HlcTimestamp): string {
  if (!Number.isSafeInteger(ts.wallMs) || ts.wallMs < 0 || ts.wallMs >= 10 ** WALL_DIGITS) {
    throw new RangeError(`HLC wallMs out of range: ${ts.wallMs}`);
  }
  if (!Number.isSafeInteger(ts.counter) || ts.counter < 0 || ts.counter > MAX_COUNTER) {
    throw new RangeError(`HLC counter out of range: ${ts.counter}`);
  }
  if (ts.deviceId.length === 0) throw new RangeError('HLC deviceId is empty');
  return `${String(ts.wallMs).padStart(WALL_DIGITS, '0')}-${String(ts.counter).padStart(COUNTER_DIGITS, '0')}-${ts.deviceId}`;
}

/** Parses an encoded HLC; undefined when the text is not one. */
export function parseHlc(text: string): HlcTimestamp | undefined {
  const m = HLC_RE.exec(text);
  if (!m) return undefined;
  return { wallMs: Number(m[1]), counter: Number(m[2]), deviceId: m[3]! };
}

/** Negative, zero or positive as a orders before, equal to or after b. */
export function compareHlc(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface HybridClockOptions {
  deviceId: string;
  /** Wall clock in ms since the epoch; injectable so tests can jump it. */
  now?: () => number;
  /** Last persisted stamp: the clock never issues anything at or below it. */
  last?: string;
}

export class HybridClock {
  readonly deviceId: string;
  readonly #wall: () => number;
  #wallMs = 0;
  #counter = 0;

  constructor(options: HybridClockOptions) {
    if (options.deviceId.length === 0) throw new RangeError('HybridClock needs a deviceId');
    this.deviceId = options.deviceId;
    this.#wall = options.now ?? Date.now;
    if (options.last !== undefined) this.restore(options.last);
  }

  /** Raise the clock to at least `stamp` (after a restart, from what was persisted). */
  restore(stamp: string): void {
    const ts = parseHlc(stamp);
    if (!ts) throw new RangeError(`not an HLC: ${JSON.stringify(stamp)}`);
    if (ts.wallMs > this.#wallMs || (ts.wallMs === this.#wallMs && ts.counter > this.#counter)) {
      this.#wallMs = ts.wallMs;
      this.#counter = ts.counter;
    }
  }

  /** The latest stamp issued or restored (not a new one). */
  current(): string {
    return encodeHlc({ wallMs: this.#wallMs, counter: this.#counter, deviceId: this.deviceId });
  }

  /** How far the wall clock is behind the clock's physical part (0 when it is not). */
  lagMs(): number {
    return Math.max(0, this.#wallMs - this.#wall());
  }

  /** A new stamp for a local event, strictly greater than every earlier one. */
  now(): string {
    const pt = Math.floor(this.#wall());
    if (pt > this.#wallMs) {
      this.#wallMs = pt;
      this.#counter = 0;
    } else {
      this.#bump();
    }
    return this.current();
  }

  /**
   * Merge a stamp received from another node (sync), returning a new local stamp
   * greater than both the remote one and everything issued here before.
   */
  receive(remote: string): string {
    const r = parseHlc(remote);
    if (!r) throw new RangeError(`not an HLC: ${JSON.stringify(remote)}`);
    const pt = Math.floor(this.#wall());
    const l = Math.max(this.#wallMs, r.wallMs, pt);
    if (l === this.#wallMs && l === r.wallMs) {
      this.#counter = Math.max(this.#counter, r.counter);
      this.#bump();
    } else if (l === this.#wallMs) {
      this.#bump();
    } else if (l === r.wallMs) {
      this.#wallMs = l;
      this.#counter = r.counter;
      this.#bump();
    } else {
      this.#wallMs = l;
      this.#counter = 0;
    }
    return this.current();
  }

  #bump(): void {
    // 10^10 events within one millisecond of a stalled clock is not a real
    // workload; moving to the next millisecond keeps the order instead of throwing.
    if (this.#counter >= MAX_COUNTER) {
      this.#wallMs += 1;
      this.#counter = 0;
    } else {
      this.#counter += 1;
    }
  }
}
