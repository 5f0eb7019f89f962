import { readFileSync } from 'node:fs';
import type { Logger } from '../log.ts';
import type { Journal, JournalEvent } from '../journal/types.ts';
import { localTopics } from '../../contract/topics.ts';
import { writeFileAtomicSync } from '../../lib/atomic-file.ts';
import { Backoff } from '../../lib/backoff.ts';

export interface EventPublisherContext {
  journal: Journal;
  publish: (topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }) => Promise<void>;
  storeId: string;
  /** File holding the highest seq published, so a restart republishes what it missed. */
  cursorFile: string;
  log: Logger;
  /** First retry delay after a failed publish, ms (default 200, up to 5 s with jitter). */
  retryBaseMs?: number;
}

/**
 * Publishes committed journal events on store/{storeId}/pos/{type}, in seq
 * order, each once while the process lives. The journal is the source: the
 * publisher only keeps a cursor (the highest seq the broker took). When a
 * publish fails (the broker's store is full or reopening) the cursor stays,
 * later commits are not published out of order, and a retry with backoff
 * reads on from the journal after the cursor until it catches up — the cursor
 * never stalls while the broker works. A restart after a crash resumes from
 * the cursor file; subscribers dedupe the few events that may be sent again
 * (QoS 1 is at least once).
 */
export class EventPublisher {
  readonly #ctx: EventPublisherContext;
  readonly #backoff: Backoff;
  #cursor = 0;
  #unsubscribe: (() => void) | undefined;
  #chain: Promise<void> = Promise.resolve();
  #published = 0;
  #failures = 0;
  /** Set while a retry is scheduled: live commits wait for the catch-up. */
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;
  #cursorWriteFailed = false;

  constructor(ctx: EventPublisherContext) {
    this.#ctx = ctx;
    this.#backoff = new Backoff({ baseMs: ctx.retryBaseMs ?? 200, maxMs: 5000 });
  }

  get cursor(): number {
    return this.#cursor;
  }

  get published(): number {
    return this.#published;
  }

  /** Failed publishes since start (each retried from the journal). */
  get failures(): number {
    return this.#failures;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#cursor = this.#readCursor();
    // Subscribe first, then catch up: events committed meanwhile queue behind
    // the catch-up on the same chain and are skipped if already sent.
    this.#unsubscribe = this.#ctx.journal.onCommit((event) => this.#enqueue(() => this.#publishLive(event)));
    this.#enqueue(() => this.#catchUp());
    await this.#chain;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = undefined;
    await this.#chain;
    this.#writeCursor();
  }

  #enqueue(job: () => Promise<void>): void {
    this.#chain = this.#chain.then(job).catch((err: unknown) => this.#ctx.log.error({ err }, 'event publisher job failed'));
  }

  async #publishLive(event: JournalEvent): Promise<void> {
    if (event.seq <= this.#cursor) return;
    // Behind (a failed publish is waiting for its retry): the catch-up sends it in order.
    if (this.#retry || event.seq !== this.#cursor + 1) {
      this.#scheduleRetry();
      return;
    }
    await this.#send(event);
  }

  /** Publishes everything after the cursor from the journal; stops at the first failure. */
  async #catchUp(): Promise<void> {
    for (;;) {
      let page: JournalEvent[];
      try {
        page = await this.#ctx.journal.read({ after: this.#cursor, limit: 500 });
      } catch (err) {
        // The journal is reopening after a failed write: try again later.
        this.#ctx.log.warn({ err, cursor: this.#cursor }, 'cannot read the journal to publish; retrying');
        this.#scheduleRetry(true);
        return;
      }
      if (page.length === 0) return;
      for (const event of page) {
        if (event.seq <= this.#cursor) continue;
        if (!(await this.#send(event))) return;
      }
    }
  }

  /** One publish; on failure schedules the catch-up. True when the broker took it. */
  async #send(event: JournalEvent): Promise<boolean> {
    try {
      await this.#ctx.publish(localTopics.posEvent(this.#ctx.storeId, event.type), JSON.stringify(event), { qos: 1, retain: false });
    } catch (err) {
      this.#failures++;
      if (this.#failures === 1 || this.#failures % 100 === 0) {
        this.#ctx.log.error({ err, seq: event.seq, failures: this.#failures }, 'publishing a POS event failed; retrying from the journal');
      }
      this.#scheduleRetry(true);
      return false;
    }
    this.#published++;
    this.#cursor = event.seq;
    this.#backoff.reset();
    if (this.#published % 50 === 0) this.#writeCursor();
    return true;
  }

  #scheduleRetry(failed = false): void {
    if (this.#stopped || this.#retry) return;
    const delay = failed ? this.#backoff.next() : 0;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#enqueue(() => this.#catchUp());
    }, delay);
  }

  #readCursor(): number {
    return readPublishCursor(this.#ctx.cursorFile);
  }

  #writeCursor(): void {
    try {
      // crash-safe, not durable, on purpose: a cursor that is older after a
      // power cut only republishes a few events, which subscribers dedupe.
      writeFileAtomicSync(this.#ctx.cursorFile, String(this.#cursor), { durability: 'crash-safe' });
      this.#cursorWriteFailed = false;
    } catch (err) {
      // A full disk must not stop publishing: the cursor is written again later.
      if (!this.#cursorWriteFailed) this.#ctx.log.warn({ err }, 'cannot write the publish cursor; keeping it in memory');
      this.#cursorWriteFailed = true;
    }
  }
}

/** The highest seq the publisher last recorded as published (0 when unknown). */
export function readPublishCursor(file: string): number {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}
