import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { Logger } from '../log.ts';
import type { Journal, JournalEvent } from '../journal/types.ts';
import { localTopics } from '../../contract/topics.ts';

export interface EventPublisherContext {
  journal: Journal;
  publish: (topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }) => Promise<void>;
  storeId: string;
  /** File holding the highest seq published, so a restart republishes what it missed. */
  cursorFile: string;
  log: Logger;
}

/**
 * Publishes committed journal events on store/{storeId}/pos/{type}, in seq
 * order, at least once: a crash between commit and publish is repaired on the
 * next start by replaying from the cursor. Subscribers dedupe by event id/seq.
 */
export class EventPublisher {
  readonly #ctx: EventPublisherContext;
  #cursor = 0;
  #unsubscribe: (() => void) | undefined;
  #chain: Promise<void> = Promise.resolve();
  #published = 0;
  /** After a failed publish the cursor stays put, so the gap is replayed on restart. */
  #frozen = false;

  constructor(ctx: EventPublisherContext) {
    this.#ctx = ctx;
  }

  get cursor(): number {
    return this.#cursor;
  }

  get published(): number {
    return this.#published;
  }

  async start(): Promise<void> {
    this.#cursor = this.#readCursor();
    // Subscribe first, then catch up: events committed meanwhile are queued
    // behind the catch-up on the same chain and skipped if already sent.
    this.#unsubscribe = this.#ctx.journal.onCommit((event) => this.#enqueue(event));
    let after = this.#cursor;
    for (;;) {
      const batch = await this.#ctx.journal.read({ after, limit: 500 });
      if (batch.length === 0) break;
      for (const event of batch) this.#enqueue(event);
      after = batch[batch.length - 1]!.seq;
    }
    await this.#chain;
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#chain;
    this.#writeCursor();
  }

  #enqueue(event: JournalEvent): void {
    this.#chain = this.#chain.then(() => this.#publish(event));
  }

  async #publish(event: JournalEvent): Promise<void> {
    if (event.seq <= this.#cursor) return;
    try {
      await this.#ctx.publish(localTopics.posEvent(this.#ctx.storeId, event.type), JSON.stringify(event), { qos: 1, retain: false });
      this.#published++;
      if (this.#frozen) return;
      this.#cursor = event.seq;
      // Cheap and not fsync'd on purpose: losing it only means re-publishing
      // a few events after a power cut, which subscribers dedupe.
      if (this.#published % 50 === 0) this.#writeCursor();
    } catch (err) {
      this.#frozen = true;
      this.#ctx.log.error({ err, seq: event.seq }, 'publishing a POS event failed; it is republished on restart');
    }
  }

  #readCursor(): number {
    try {
      const n = Number(readFileSync(this.#ctx.cursorFile, 'utf8').trim());
      return Number.isSafeInteger(n) && n >= 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  #writeCursor(): void {
    const tmp = `${this.#ctx.cursorFile}.tmp`;
    writeFileSync(tmp, String(this.#cursor));
    renameSync(tmp, this.#ctx.cursorFile);
  }
}
