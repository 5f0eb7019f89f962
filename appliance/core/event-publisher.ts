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
 * Publishes in flight at once (issue 14). The broker stores a POS event for
 * each persistent subscriber (the devices process) and answers only after
 * that store's fsync; awaiting each event before sending the next made every
 * event wait a whole fsync of its own behind the one before. Issued together
 * they share the broker's group commit, and aedes keeps them in order. After
 * a failed publish, events behind it in the window may reach subscribers
 * before its retry: subscribers key on the event id (devices: sale:<id>), not
 * on arrival order.
 */
const MAX_IN_FLIGHT = 64;

interface InFlight {
  seq: number;
  state: 'pending' | 'ok' | 'failed';
  done: Promise<void>;
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
  /** The highest seq handed to the broker; above the cursor while publishes are in flight. */
  #sent = 0;
  /** Publishes not yet settled into the cursor, in seq order. */
  #inflight: InFlight[] = [];
  /** A publish of the current window failed: nothing more is sent until the catch-up. */
  #broken = false;
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
    this.#sent = this.#cursor;
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
    await this.#settleAll();
    this.#writeCursor();
  }

  #enqueue(job: () => Promise<void>): void {
    this.#chain = this.#chain.then(job).catch((err: unknown) => this.#ctx.log.error({ err }, 'event publisher job failed'));
  }

  async #publishLive(event: JournalEvent): Promise<void> {
    if (event.seq <= this.#sent) return;
    // Behind (a failed publish is waiting for its retry): the catch-up sends it in order.
    if (this.#retry || this.#broken || event.seq !== this.#sent + 1) {
      this.#scheduleRetry();
      return;
    }
    await this.#send(event);
  }

  /** Publishes everything after the cursor from the journal; stops at the first failure. */
  async #catchUp(): Promise<void> {
    // After a failure: let the window settle, then resend from the cursor
    // (publishes after the failed one may have gone through: subscribers
    // dedupe those, as after a crash).
    await this.#settleAll();
    this.#inflight = [];
    this.#broken = false;
    this.#sent = this.#cursor;
    for (;;) {
      let page: JournalEvent[];
      try {
        page = await this.#ctx.journal.read({ after: this.#sent, limit: 500 });
      } catch (err) {
        // The journal is reopening after a failed write: try again later.
        this.#ctx.log.warn({ err, cursor: this.#cursor }, 'cannot read the journal to publish; retrying');
        this.#scheduleRetry(true);
        return;
      }
      if (page.length === 0) return;
      for (const event of page) {
        if (event.seq <= this.#sent) continue;
        if (!(await this.#send(event))) return;
      }
    }
  }

  /**
   * Hands one event to the broker without waiting for it (at most
   * MAX_IN_FLIGHT outstanding); its outcome settles the cursor in seq order.
   * False once a publish of this window failed (the catch-up is scheduled).
   */
  async #send(event: JournalEvent): Promise<boolean> {
    while (this.#inflight.length >= MAX_IN_FLIGHT && !this.#broken) await this.#inflight[0]!.done;
    if (this.#broken) return false;
    const entry: InFlight = { seq: event.seq, state: 'pending', done: Promise.resolve() };
    entry.done = this.#ctx.publish(localTopics.posEvent(this.#ctx.storeId, event.type), JSON.stringify(event), { qos: 1, retain: false }).then(
      () => {
        entry.state = 'ok';
        this.#advance();
      },
      (err: unknown) => {
        entry.state = 'failed';
        this.#broken = true;
        this.#failures++;
        if (this.#failures === 1 || this.#failures % 100 === 0) {
          this.#ctx.log.error({ err, seq: event.seq, failures: this.#failures }, 'publishing a POS event failed; retrying from the journal');
        }
        this.#scheduleRetry(true);
      },
    );
    this.#inflight.push(entry);
    this.#sent = event.seq;
    return true;
  }

  /** Moves the cursor over the publishes the broker took, up to the first one still pending or failed. */
  #advance(): void {
    while (this.#inflight[0]?.state === 'ok') {
      this.#cursor = this.#inflight.shift()!.seq;
      this.#published++;
      this.#backoff.reset();
      if (this.#published % 50 === 0) this.#writeCursor();
    }
  }

  async #settleAll(): Promise<void> {
    await Promise.all(this.#inflight.map((e) => e.done));
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
