import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../lib/atomic-file.ts';

// Small JSON files of the sync state that must survive kill -9 and power loss
// (HQ's watermark, the applied catalog, conflicts): lib/atomic-file.ts with
// 'durable'. A reader sees the old or the new content, never half of one.

export async function writeJsonDurable(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value), { durability: 'durable', mkdir: true });
}

/** The parsed file, or undefined when it does not exist. Throws on unreadable JSON. */
export async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text);
}

/**
 * Serialises saves of one file: at most one write runs, and a save requested
 * meanwhile coalesces into one more write of the latest value. With
 * `minIntervalMs`, writes start at least that far apart: a file saved on every
 * HQ ack (the sync watermark) is then written about once a second while a
 * backlog drains, instead of one write + fsync per batch competing with the
 * journal's fsyncs for the disk. flush() writes at once.
 */
export class CoalescedWriter {
  readonly #file: string;
  readonly #snapshot: () => unknown;
  readonly #onError: (err: unknown) => void;
  readonly #minIntervalMs: number;
  #running: Promise<void> | undefined;
  #dirty = false;
  #lastStart = Number.NEGATIVE_INFINITY;
  #urgent = false;
  #wake: (() => void) | undefined;

  constructor(file: string, snapshot: () => unknown, onError: (err: unknown) => void, options: { minIntervalMs?: number } = {}) {
    this.#file = file;
    this.#snapshot = snapshot;
    this.#onError = onError;
    this.#minIntervalMs = options.minIntervalMs ?? 0;
  }

  /** Requests a save; resolves when a write that includes the current value is durable. */
  save(): Promise<void> {
    this.#dirty = true;
    if (!this.#running) {
      this.#running = this.#loop().finally(() => {
        this.#running = undefined;
        this.#urgent = false;
      });
    }
    return this.#running;
  }

  /** Resolves when everything saved so far is durable, writing a pending value now. */
  async flush(): Promise<void> {
    while (this.#running) {
      this.#urgent = true;
      this.#wake?.();
      await this.#running;
    }
  }

  async #loop(): Promise<void> {
    while (this.#dirty) {
      const wait = this.#lastStart + this.#minIntervalMs - performance.now();
      if (wait > 0 && !this.#urgent) await this.#pause(wait);
      this.#dirty = false;
      this.#lastStart = performance.now();
      try {
        await writeJsonDurable(this.#file, this.#snapshot());
      } catch (err) {
        this.#onError(err);
        return;
      }
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      // A process that ends without stop() loses at most this interval of saves, which the file's
      // owner accepts (see minIntervalMs); the timer must not keep it alive.
      timer.unref?.();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }
}
