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
 * How often a file whose newest lost write only costs redone work is written
 * while it changes (issue 14): the sync watermark (a lost ack means a resend
 * HQ skips as a duplicate) and the conflict notices (HQ holds them all). Each
 * write is fsync'd and sat on the disk queue in front of the journal's fsync
 * that every sale waits for; HQ acks ~20 batches a second while a backlog
 * drains. A power cut costs at most this much of such a file.
 */
export const RELAXED_WRITE_INTERVAL_MS = 1000;

/**
 * Serialises saves of one file: at most one write runs, and a save requested
 * meanwhile coalesces into one more write of the latest value. With
 * `minIntervalMs`, writes start at most that often (a file whose lost newest
 * write only costs redone work need not fsync on every change); flush() skips
 * the wait.
 */
export class CoalescedWriter {
  readonly #file: string;
  readonly #snapshot: () => unknown;
  readonly #onError: (err: unknown) => void;
  readonly #minIntervalMs: number;
  #running: Promise<void> | undefined;
  #dirty = false;
  #lastStart = -Infinity;
  #hurry: (() => void) | undefined;

  constructor(file: string, snapshot: () => unknown, onError: (err: unknown) => void, opts: { minIntervalMs?: number } = {}) {
    this.#file = file;
    this.#snapshot = snapshot;
    this.#onError = onError;
    this.#minIntervalMs = opts.minIntervalMs ?? 0;
  }

  /** Requests a save; resolves when a write that includes the current value is durable. */
  save(): Promise<void> {
    this.#dirty = true;
    if (!this.#running) {
      this.#running = this.#loop().finally(() => {
        this.#running = undefined;
      });
    }
    return this.#running;
  }

  async flush(): Promise<void> {
    while (this.#running) {
      this.#hurry?.();
      await this.#running;
    }
  }

  async #loop(): Promise<void> {
    while (this.#dirty) {
      const wait = this.#lastStart + this.#minIntervalMs - performance.now();
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          this.#hurry = () => (clearTimeout(timer), resolve());
        });
        this.#hurry = undefined;
      }
      this.#lastStart = performance.now();
      this.#dirty = false;
      try {
        await writeJsonDurable(this.#file, this.#snapshot());
      } catch (err) {
        this.#onError(err);
        return;
      }
    }
  }
}
