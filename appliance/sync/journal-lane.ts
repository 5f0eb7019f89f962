import { v7 as uuidv7 } from 'uuid';
import type { EventBatch, SyncAck } from '../../contract/sync.ts';
import type { Journal, JournalEvent } from '../journal/types.ts';
import type { Logger } from '../log.ts';
import type { Backoff } from '../../lib/backoff.ts';
import type { SyncStateStore } from './sync-state.ts';

// The journal lane: ships committed journal events to HQ and marks them
// synced only from HQ's acks (contract/sync.ts). Two kinds of batches:
//
// - backlog: contiguous seq ranges from the first seq HQ has not acked,
//   bounded by count and bytes, at most `maxInFlight` unacked at a time;
// - live: a sale committed while the backlog is behind goes out at once on
//   its own, so HQ applies it without waiting for hours of backlog.
//
// Nothing here depends on the MQTT session: every (re)connect and every ack
// timeout rewinds to the first unacked seq and resends with new batch ids.
// HQ's watermark makes the resends harmless (duplicates are skipped).
// An "epoch" counter invalidates in-flight batches on a rewind, so a stale
// gap or timeout from before the rewind cannot rewind again.

export interface JournalLaneLimits {
  batchMaxEvents: number;
  batchMaxBytes: number;
  maxInFlight: number;
  ackTimeoutMs: number;
  liveMaxEvents: number;
}

export interface JournalLaneContext {
  journal: Pick<Journal, 'readTexts' | 'getBySeq' | 'getById' | 'onCommit' | 'lastSeq'>;
  state: SyncStateStore;
  deviceId: string;
  storeId: string;
  /** Publishes a batch (QoS 1) given as its JSON text. Rejects when the link is down; the lane then waits for online(). */
  send: (json: string, batch: Omit<EventBatch, 'events'>) => Promise<void>;
  log: Logger;
  now: () => number;
  limits: JournalLaneLimits;
  /** Delay before retrying after an ack timeout or a rejected batch. */
  retry: Backoff;
  /** Conflicts reported in acks. */
  onConflicts?: (conflicts: SyncAck['conflicts']) => void;
}

interface InFlight {
  batchId: string;
  lane: 'backlog' | 'live';
  epoch: number;
  fromSeq: number;
  toSeq: number;
  count: number;
  sentAt: number;
  timer: NodeJS.Timeout;
}

export interface JournalLaneCounters {
  batchesSent: number;
  eventsSent: number;
  liveBatchesSent: number;
  acks: number;
  duplicates: number;
  gaps: number;
  rejected: number;
  ackTimeouts: number;
  rewinds: number;
}

/** Bytes of the batch envelope around the events (generous). */
const ENVELOPE_BYTES = 512;

export class JournalLane {
  readonly counters: JournalLaneCounters = { batchesSent: 0, eventsSent: 0, liveBatchesSent: 0, acks: 0, duplicates: 0, gaps: 0, rejected: 0, ackTimeouts: 0, rewinds: 0 };
  readonly #ctx: JournalLaneContext;
  #online = false;
  #epoch = 0;
  #nextSeq = 1;
  /** Events read per backlog batch: about what fitted in the last one (see #pumpLoop). */
  #pageSize: number | undefined;
  readonly #inflight = new Map<string, InFlight>();
  #pumping = false;
  #pumpAgain = false;
  #pauseTimer: NodeJS.Timeout | undefined;
  #stalled: string | undefined;
  #live: JournalEvent[] = [];
  #liveScheduled = false;
  #unsubscribe: (() => void) | undefined;
  #idle: Array<() => void> = [];

  constructor(ctx: JournalLaneContext) {
    this.#ctx = ctx;
  }

  start(): void {
    this.#unsubscribe = this.#ctx.journal.onCommit((event) => this.#onCommit(event));
  }

  stop(): void {
    this.offline();
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  get isOnline(): boolean {
    return this.#online;
  }

  /** Why the lane is not progressing (rejected batch, missing journal record), if it is not. */
  get stalled(): string | undefined {
    return this.#stalled;
  }

  get inFlight(): number {
    return this.#inflight.size;
  }

  /** Events committed but not acked by HQ. */
  get pending(): number {
    return Math.max(0, this.#ctx.journal.lastSeq - this.#ctx.state.lastAckedSeq - this.#ctx.state.ackedAboveCount);
  }

  /** The first seq HQ has not acked, or undefined when everything is synced. */
  firstPendingSeq(): number | undefined {
    const { state, journal } = this.#ctx;
    for (let s = state.lastAckedSeq + 1; s <= journal.lastSeq; s++) if (!state.isAcked(s)) return s;
    return undefined;
  }

  /** The link is up: resend from the first unacked seq (nothing relies on the old session). */
  online(): void {
    this.#online = true;
    this.#rewind('connected');
  }

  /** The link is down: forget what is in flight; it is resent on the next online(). */
  offline(): void {
    this.#online = false;
    this.#epoch += 1;
    this.#clearInflight();
    this.#live = [];
    if (this.#pauseTimer) clearTimeout(this.#pauseTimer);
    this.#pauseTimer = undefined;
  }

  /** Resolves when nothing is pending (tests, shutdown drains). */
  whenIdle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  handleAck(ack: SyncAck): void {
    const { state, log } = this.#ctx;
    if (ack.deviceId !== this.#ctx.deviceId) {
      log.warn({ deviceId: ack.deviceId }, 'ack for another device ignored');
      return;
    }
    this.counters.acks += 1;
    const at = new Date(this.#ctx.now()).toISOString();
    const entry = ack.batchId === undefined ? undefined : this.#inflight.get(ack.batchId);
    if (entry) {
      clearTimeout(entry.timer);
      this.#inflight.delete(entry.batchId);
    }
    const current = entry !== undefined && entry.epoch === this.#epoch;
    let dirty = state.applyAck(ack.lastAppliedSeq, ack.appliedAbove, at);
    switch (ack.result) {
      case 'applied':
      case 'duplicate':
        if (ack.result === 'duplicate') this.counters.duplicates += 1;
        this.#ctx.retry.reset();
        if (this.#stalled?.startsWith('rejected')) this.#stalled = undefined;
        break;
      case 'gap': {
        this.counters.gaps += 1;
        if (current && entry.lane === 'backlog') {
          const expected = ack.expectedSeq ?? ack.lastAppliedSeq + 1;
          log.info({ batchId: entry.batchId, fromSeq: entry.fromSeq, expectedSeq: expected }, 'HQ reported a gap; resending from its expected seq');
          state.rewindTo(expected);
          dirty = true;
          this.#restartFrom(expected);
        }
        break;
      }
      case 'rejected': {
        this.counters.rejected += 1;
        const fromSeq = entry?.fromSeq ?? 0;
        const toSeq = entry?.toSeq ?? 0;
        state.recordRejected({ batchId: ack.batchId ?? '', fromSeq, toSeq, reason: ack.reason ?? 'unspecified', at });
        dirty = true;
        // Never drop a sale: the events stay pending and are retried after a
        // growing pause, so a fixed HQ picks them up; status shows why.
        this.#stalled = `rejected by HQ: ${ack.reason ?? 'unspecified'} (seq ${fromSeq}..${toSeq})`;
        log.error({ batchId: ack.batchId, lane: entry?.lane, fromSeq, toSeq, reason: ack.reason }, 'HQ rejected a batch; events kept, retrying later');
        if (current && entry.lane === 'backlog') this.#pauseThenRewind('rejected');
        break;
      }
    }
    if (ack.conflicts.length > 0) this.#ctx.onConflicts?.(ack.conflicts);
    if (dirty) void state.save();
    if (this.pending === 0) for (const r of this.#idle.splice(0)) r();
    this.#pump();
  }

  // ---------------------------------------------------------------- internals

  #clearInflight(lane?: 'backlog' | 'live'): void {
    for (const [id, f] of this.#inflight) {
      if (lane && f.lane !== lane) continue;
      clearTimeout(f.timer);
      this.#inflight.delete(id);
    }
  }

  #rewind(reason: string): void {
    this.counters.rewinds += 1;
    this.#ctx.log.debug({ reason, from: this.#ctx.state.lastAckedSeq + 1 }, 'journal lane rewinds');
    this.#restartFrom(this.#ctx.state.lastAckedSeq + 1);
  }

  #restartFrom(seq: number): void {
    this.#epoch += 1;
    this.#clearInflight('backlog');
    this.#nextSeq = Math.max(1, seq);
    this.#pump();
  }

  #pauseThenRewind(reason: string): void {
    this.#epoch += 1;
    this.#clearInflight('backlog');
    if (this.#pauseTimer) clearTimeout(this.#pauseTimer);
    const delay = this.#ctx.retry.next();
    this.#ctx.log.info({ reason, delayMs: delay }, 'journal lane pauses before resending');
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = undefined;
      if (this.#online) this.#rewind(reason);
    }, delay);
    this.#pauseTimer.unref?.();
  }

  #backlogInflight(): number {
    let n = 0;
    for (const f of this.#inflight.values()) if (f.lane === 'backlog') n++;
    return n;
  }

  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    void this.#pumpLoop()
      .catch((err: unknown) => this.#ctx.log.error({ err }, 'journal lane pump failed'))
      .finally(() => {
        this.#pumping = false;
        if (this.#pumpAgain) {
          this.#pumpAgain = false;
          this.#pump();
        }
      });
  }

  async #pumpLoop(): Promise<void> {
    const { journal, state, limits } = this.#ctx;
    while (this.#online && !this.#pauseTimer && this.#backlogInflight() < limits.maxInFlight) {
      if (this.#nextSeq <= state.lastAckedSeq) this.#nextSeq = state.lastAckedSeq + 1;
      if (this.#nextSeq > journal.lastSeq) return;
      const epoch = this.#epoch;
      const from = this.#nextSeq;
      const page = await journal.readTexts({ after: from - 1, limit: (this.#pageSize ??= limits.batchMaxEvents) });
      if (epoch !== this.#epoch || !this.#online) continue;
      if (page.length === 0) return;
      if (page[0]!.seq !== from) {
        // A quarantined record: HQ would refuse everything after it as a gap.
        this.#stalled = `journal record seq ${from} is missing or corrupt (see tillbox doctor)`;
        this.#ctx.log.error({ seq: from }, 'journal lane cannot send a missing journal record');
        return;
      }
      // Events as their stored JSON text (never decoded): the text both measures and builds the batch.
      const texts: string[] = [];
      let bytes = ENVELOPE_BYTES;
      let toSeq = from - 1;
      for (const e of page) {
        if (e.seq !== toSeq + 1) break;
        const size = Buffer.byteLength(e.text) + 1;
        if (texts.length > 0 && bytes + size > limits.batchMaxBytes) break;
        texts.push(e.text);
        toSeq = e.seq;
        bytes += size;
      }
      this.#nextSeq = toSeq + 1;
      // Read about as many events as fitted last time. A page is read, checked
      // and decoded in one go on the event loop that takes sales: with 500 read
      // and ~180 fitting under batchMaxBytes, two thirds of that work was thrown
      // away and a sale could wait tens of ms behind it while a backlog drained
      // (issue 14, storeLoad). A batch that used a whole page doubles it; a
      // short page (the end of the journal) leaves it as it is.
      if (texts.length < page.length) this.#pageSize = Math.min(limits.batchMaxEvents, texts.length + (texts.length >> 3) + 1);
      else if (page.length === this.#pageSize) this.#pageSize = Math.min(limits.batchMaxEvents, page.length * 2);
      this.#send('backlog', { fromSeq: from, toSeq }, texts, epoch);
    }
  }

  /** Sends events given as their JSON texts, in seq order from fromSeq to toSeq (a live batch may skip some). */
  #send(lane: 'backlog' | 'live', seqs: { fromSeq: number; toSeq: number }, texts: string[], epoch: number): void {
    const batchId = uuidv7();
    const meta: Omit<EventBatch, 'events'> = {
      v: 1,
      deviceId: this.#ctx.deviceId,
      storeId: this.#ctx.storeId,
      batchId,
      lane,
      sentAt: new Date(this.#ctx.now()).toISOString(),
    };
    const head = JSON.stringify(meta);
    const json = `${head.slice(0, -1)},"events":[${texts.join(',')}]}`;
    const timer = setTimeout(() => this.#onTimeout(batchId), this.#ctx.limits.ackTimeoutMs);
    timer.unref?.();
    this.#inflight.set(batchId, {
      batchId,
      lane,
      epoch,
      fromSeq: seqs.fromSeq,
      toSeq: seqs.toSeq,
      count: texts.length,
      sentAt: performance.now(),
      timer,
    });
    this.counters.batchesSent += 1;
    this.counters.eventsSent += texts.length;
    if (lane === 'live') this.counters.liveBatchesSent += 1;
    this.#ctx.send(json, meta).catch((err: unknown) => {
      // The link went down; offline()/online() resend everything.
      this.#ctx.log.debug({ err: (err as Error).message, batchId }, 'batch publish failed');
    });
  }

  #onTimeout(batchId: string): void {
    const f = this.#inflight.get(batchId);
    if (!f) return;
    this.#inflight.delete(batchId);
    this.counters.ackTimeouts += 1;
    this.#ctx.log.warn({ batchId, lane: f.lane, fromSeq: f.fromSeq, toSeq: f.toSeq }, 'no HQ ack in time; resending');
    // A live batch needs no resend of its own: the backlog reaches it.
    if (f.lane === 'backlog' && f.epoch === this.#epoch && this.#online) this.#pauseThenRewind('ack timeout');
  }

  #onCommit(event: JournalEvent): void {
    if (!this.#online) return;
    const backlogWouldSendNow = event.seq <= this.#nextSeq && !this.#pauseTimer && this.#backlogInflight() < this.#ctx.limits.maxInFlight;
    if (backlogWouldSendNow) {
      this.#pump();
      return;
    }
    this.#live.push(event);
    if (this.#liveScheduled) return;
    this.#liveScheduled = true;
    setImmediate(() => {
      this.#liveScheduled = false;
      this.#flushLive();
    });
  }

  #flushLive(): void {
    void this.#flushLiveAsync().catch((err: unknown) => this.#ctx.log.error({ err }, 'live lane flush failed; the backlog carries the events'));
  }

  async #flushLiveAsync(): Promise<void> {
    const { state, limits } = this.#ctx;
    while (this.#live.length > 0 && this.#online) {
      const epoch = this.#epoch;
      const candidates = this.#live.splice(0, limits.liveMaxEvents).filter((e) => e.seq >= this.#nextSeq && !state.isAcked(e.seq));
      const take: JournalEvent[] = [];
      for (const e of candidates) if (await this.#causallyReady(e, take)) take.push(e);
      if (epoch !== this.#epoch || !this.#online) return;
      if (take.length > 0)
        this.#send(
          'live',
          { fromSeq: take[0]!.seq, toSeq: take[take.length - 1]!.seq },
          take.map((e) => JSON.stringify(e)),
          epoch,
        );
    }
    this.#live = [];
    this.#pump();
  }

  /**
   * The live lane overtakes the backlog, so it must not overtake what an
   * event depends on: a refund or void goes live only when HQ already has
   * its sale (acked) or the sale travels in the same live batch. Otherwise
   * it waits for the backlog, which keeps seq order.
   */
  async #causallyReady(e: JournalEvent, sameBatch: readonly JournalEvent[]): Promise<boolean> {
    const saleId = (e.payload as { saleId?: unknown } | null)?.saleId;
    if (typeof saleId !== 'string') return true;
    if (sameBatch.some((x) => x.id === saleId)) return true;
    const sale = await this.#ctx.journal.getById(saleId);
    return sale !== undefined && this.#ctx.state.isAcked(sale.seq);
  }
}
