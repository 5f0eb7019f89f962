import { v7 as uuidv7 } from 'uuid';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import { EVENT_TYPE_MAX, SCOPED_KEY_MAX } from '../../contract/ids.ts';
import type { Logger } from '../log.ts';
import { isDiskFullError } from '../../lib/atomic-file.ts';
import { diskFullError } from '../storage/storage-guard.ts';
import { HybridClock } from './hlc.ts';
import {
  EVENT_END,
  EVENT_PREFIX,
  META_KEY,
  decodeMeta,
  decodeRecord,
  encodeRecord,
  eventKey,
  idIndexKey,
  idempotencyIndexKey,
  seqFromEventKey,
  storedEventText,
  type Meta,
  type StoredRecord,
} from './record.ts';
import type { AppendRequest, AppendResult, EventText, IntegrityReport, Journal, JournalEvent, ReadOptions } from './types.ts';
import { isCorruptionError, isLockedError, openDb, quarantine, repairDb, scanJournal, verifyJournal, type JournalDb } from './verify.ts';

// Durable POS event journal on LevelDB.
//
// Write path (group commit): append() validates and queues; one writer loop
// takes everything queued, assigns seq/HLC/id in queue order, writes events,
// their indexes and the meta record in ONE synced batch, then resolves the
// whole group. Appends arriving during that fsync form the next group, so N
// concurrent sales cost about one fsync, not N.
//
// Seq is assigned only inside the writer, right before the batch, and the
// in-memory counter advances only after the batch is durable. A failed batch
// therefore leaves no gap: nothing of it was acknowledged and its seqs are
// handed to the next batch.
//
// After a failed batch (ENOSPC, EIO, a failed fsync) the journal never writes
// on top of the log it was appending to. LevelDB continues after a failed log
// write with its writer positioned after the torn bytes, and recovery later
// drops everything behind the tear: measured, 18-100 sales acknowledged after
// a disk-full episode vanished at the next start (issue 8). A failed fsync is
// worse: the kernel may have dropped the dirty pages, so a retried fsync can
// report success for data that is not on disk. So the journal closes the
// LevelDB and opens it again: recovery replays the log up to the tear, writes
// what it read into a new table (fsync'd) and starts a fresh log. Every event
// acknowledged before the failure precedes the tear; the failed batch was
// refused to its callers and is either wholly there after recovery (then it
// is adopted and announced to onCommit listeners, and a retry replays it) or
// not at all. Until the reopen succeeds (it needs a little free space),
// appends are refused with a retryable error and it is retried with backoff.
//
// Retention: events are never deleted here (they are the audit trail). A
// retention policy would plug in as a separate pruner that deletes e!/k!/i!
// ranges strictly below min(HQ-acked seq, age limit) and records the pruned
// low-water mark in meta so verify() does not report the range as a gap.

export interface LevelJournalOptions {
  /** LevelDB directory (created on start if missing). */
  dir: string;
  deviceId: string;
  storeId: string;
  log: Logger;
  /** Wall clock in ms; injectable so tests can jump it. */
  now?: () => number;
  /**
   * Asked before each new event is queued: an error refuses it (the storage
   * guard's disk-full refusal). Replays of known keys are still answered.
   */
  admit?: () => TillboxError | undefined;
  /** Told about every failed write (the storage guard re-checks free space at once). */
  onWriteError?: (err: unknown) => void;
  /** Delay between reopen attempts after a failed write, ms (default 100, doubling to 5 s). */
  reopenDelayMs?: number;
  /** Opens the LevelDB (default: classic-level). Tests wrap it to inject write failures. */
  openDb?: (dir: string, createIfMissing: boolean) => JournalDb;
  /**
   * The highest seq other stores know was committed (the publish cursor, HQ's
   * ack watermark), read at start. A journal that recovers a lower lastSeq
   * lost its tail (a torn or corrupted log, a disk that lied about fsync):
   * it says so, reports the range as missing, and never hands those seqs out
   * again (HQ may hold them).
   */
  knownSeq?: () => number;
}

export interface JournalStats {
  /** Synced batches written (one fsync each). */
  batches: number;
  /** Events committed. */
  appends: number;
  /** Appends answered with an existing event (idempotent retries). */
  replays: number;
  /** Largest group committed in one batch. */
  maxBatch: number;
  failedBatches: number;
  /** Times the LevelDB was closed and reopened after a failed write. */
  reopens: number;
  /** Times damaged files were repaired (LevelDB RepairDB). */
  repairs: number;
}

interface Pending {
  request: AppendRequest;
  resolve: (result: AppendResult) => void;
  reject: (err: unknown) => void;
}

type State = 'new' | 'starting' | 'open' | 'recovering' | 'stopping' | 'closed';

/** Bounds one batch so a huge backlog cannot build a giant write. */
const MAX_GROUP = 512;
// The same limits HQ checks (contract/ids.ts): a journal event HQ would refuse is refused here.
const MAX_KEY_LENGTH = SCOPED_KEY_MAX;
const MAX_TYPE_LENGTH = EVENT_TYPE_MAX;
/** How many corrupt tail records start() will step over looking for the last good one. */
const TAIL_PROBE = 64;
const CLOCK_LAG_WARN_MS = 60_000;
const REOPEN_MAX_MS = 5000;

export class LevelJournal implements Journal {
  /** Offline check for `tillbox doctor` (box may be stopped; answers `locked` if not). */
  static readonly verifyDir = verifyJournal;

  readonly stats: JournalStats = { batches: 0, appends: 0, replays: 0, maxBatch: 0, failedBatches: 0, reopens: 0, repairs: 0 };

  readonly #options: LevelJournalOptions;
  readonly #log: Logger;
  readonly #wall: () => number;
  #clock: HybridClock;
  #db: JournalDb | undefined;
  #state: State = 'new';
  #committedSeq = 0;
  #queue: Pending[] = [];
  /** Idempotency keys queued or being written, so a concurrent retry joins the first append. */
  readonly #inflight = new Map<string, { requestHash: string; promise: Promise<AppendResult> }>();
  #writer: Promise<void> | undefined;
  readonly #listeners = new Set<(event: JournalEvent) => void>();
  readonly #quarantining = new Set<string>();
  /** Seqs found missing at the tail at start (see knownSeq). */
  lostTail: { from: number; to: number } | undefined;
  /** Why the journal is recovering (the failed write), while it is. */
  #failure: unknown;
  #recovery: Promise<void> | undefined;

  constructor(options: LevelJournalOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#wall = options.now ?? Date.now;
    this.#clock = new HybridClock({ deviceId: options.deviceId, now: this.#wall });
  }

  get lastSeq(): number {
    return this.#committedSeq;
  }

  /** 'open' while appends are taken; 'recovering' after a failed write until the reopen succeeds. */
  get condition(): State {
    return this.#state;
  }

  /** The error appends fail with while the journal cannot write, or undefined. */
  unavailable(): TillboxError | undefined {
    if (this.#state === 'recovering') {
      if (isDiskFullError(this.#failure)) return diskFullError({ freeBytes: 0, minFreeBytes: 0 });
      return new TillboxError(ErrorCode.StorageRecovering, 'the journal is recovering from a failed write; try again shortly', { retryable: true });
    }
    if (this.#state !== 'open') return new TillboxError(ErrorCode.JournalClosed, `journal is ${this.#state}`, { retryable: true });
    return undefined;
  }

  /** Latest HLC issued or recovered (for health/diagnostics). */
  get hlc(): string {
    return this.#clock.current();
  }

  /** Merge a remote HLC (sync): later local events order after it. Persisted with the next commit. */
  receive(remoteHlc: string): string {
    return this.#clock.receive(remoteHlc);
  }

  async start(): Promise<void> {
    if (this.#state !== 'new' && this.#state !== 'closed') {
      throw new TillboxError(ErrorCode.JournalClosed, `journal cannot start while ${this.#state}`);
    }
    this.#state = 'starting';
    try {
      this.#db = await this.#openAndRecover({});
    } catch (err) {
      if (!isCorruptionError(err)) {
        this.#state = 'closed';
        throw err;
      }
      // A damaged table or manifest (bit rot): salvage what LevelDB can read and start on that.
      this.#log.error({ err }, 'journal files are damaged; repairing (what cannot be read is reported as missing)');
      try {
        await repairDb(this.#options.dir);
        this.stats.repairs += 1;
        this.#db = await this.#openAndRecover({});
      } catch (again) {
        this.#state = 'closed';
        throw again;
      }
    }
    this.#state = 'open';
    this.#log.info({ lastSeq: this.#committedSeq, hlc: this.#clock.current() }, 'journal started');
  }

  async #openAndRecover(opts: { keepClock?: boolean }): Promise<JournalDb> {
    const db = (this.#options.openDb ?? openDb)(this.#options.dir, true);
    try {
      await db.open();
    } catch (err) {
      if (isLockedError(err)) {
        throw new TillboxError(ErrorCode.JournalWriteFailed, `journal is locked (is another tillbox running on ${this.#options.dir}?)`, { cause: err, retryable: true, detail: { locked: true } });
      }
      if (isCorruptionError(err)) throw err;
      throw new TillboxError(ErrorCode.JournalWriteFailed, `cannot open journal at ${this.#options.dir}`, { cause: err });
    }
    try {
      await this.#recover(db, opts);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
    return db;
  }

  /**
   * Runs a read; if LevelDB reports a damaged block (bit rot in a table
   * file), repairs the database once (LevelDB's RepairDB salvages every
   * readable record and drops the unreadable blocks) and runs it again. What
   * was lost shows as missing seqs in verify() and doctor; it is never served.
   */
  async #readRepairing<T>(fn: (db: JournalDb) => Promise<T>): Promise<T> {
    const db = this.#requireOpen();
    const repairsBefore = this.stats.repairs;
    try {
      return await fn(db);
    } catch (err) {
      // Another read found the damage first and closed this handle for the repair (this read
      // then fails with "not open" or the same corruption): wait for that repair, read again.
      if (this.#repairing || this.stats.repairs !== repairsBefore) {
        await this.#repairing?.catch(() => undefined);
        return fn(this.#requireOpen());
      }
      if (!isCorruptionError(err) || this.#state !== 'open') throw err;
      await this.#repairInPlace(err);
      return fn(this.#requireOpen());
    }
  }

  #repairing: Promise<void> | undefined;

  #repairInPlace(cause: unknown): Promise<void> {
    this.#repairing ??= (async () => {
      this.#log.error({ err: cause }, 'journal block is damaged; repairing the journal (appends wait)');
      this.#state = 'recovering';
      this.#failure = cause;
      while (this.#writer) await this.#writer;
      await this.#db?.close().catch(() => undefined);
      try {
        await repairDb(this.#options.dir);
        this.stats.repairs += 1;
        this.#db = await this.#openAndRecover({ keepClock: true });
        this.#state = 'open';
        this.#failure = undefined;
        this.#log.warn({ lastSeq: this.#committedSeq }, 'journal repaired; missing records are reported by verify and doctor');
      } catch (err) {
        this.#log.error({ err }, 'journal repair failed; reopening it again');
        this.#state = 'open';
        this.#beginRecovery(err);
        throw err;
      }
    })().finally(() => {
      this.#repairing = undefined;
      if (this.#queue.length > 0) this.#kick();
    });
    return this.#repairing;
  }

  /** Recovers lastSeq and the HLC from meta and the event tail; quarantines a corrupt tail. */
  async #recover(db: JournalDb, opts: { keepClock?: boolean } = {}): Promise<void> {
    const metaRaw = await db.get(META_KEY);
    const meta = metaRaw === undefined ? undefined : decodeMeta(metaRaw);
    if (metaRaw !== undefined && meta === undefined) {
      this.#log.error('journal meta record is corrupt; recovering from the event tail');
    }
    let highestKeySeq = 0;
    let tail: StoredRecord | undefined;
    const corrupt: Array<{ key: string; seq: number | null; reason: string; raw: string }> = [];
    for await (const [key, raw] of db.iterator({ gte: EVENT_PREFIX, lt: EVENT_END, reverse: true, limit: TAIL_PROBE })) {
      const seq = seqFromEventKey(key);
      if (seq !== null) highestKeySeq = Math.max(highestKeySeq, seq);
      const decoded = decodeRecord(raw, seq);
      if (decoded.ok) {
        tail = decoded.record;
        break;
      }
      corrupt.push({ key, seq, reason: decoded.reason, raw });
    }
    for (const c of corrupt) {
      this.#log.error({ key: c.key, seq: c.seq, reason: c.reason }, 'corrupt journal record at tail; quarantined');
      await quarantine(db, c.key, c.seq, c.reason, c.raw, this.#wall());
    }
    if (tail && tail.event.deviceId !== this.#options.deviceId) {
      throw new TillboxError(ErrorCode.JournalCorrupt, `journal at ${this.#options.dir} belongs to device ${tail.event.deviceId}, not ${this.#options.deviceId}`);
    }
    // Never reuse a seq that was ever written, even by a record now quarantined.
    this.#committedSeq = Math.max(opts.keepClock ? this.#committedSeq : 0, meta?.lastSeq ?? 0, highestKeySeq);
    if (meta && tail && tail.event.seq < meta.lastSeq) {
      this.#log.error({ metaLastSeq: meta.lastSeq, tailSeq: tail.event.seq }, 'journal tail is missing events');
    }
    const known = opts.keepClock ? 0 : (this.#options.knownSeq?.() ?? 0);
    if (known > this.#committedSeq) {
      this.#log.error({ lastSeq: this.#committedSeq, knownSeq: known }, 'the journal lost its newest events (torn or corrupted log): the missing seqs are reported as gaps and never reused');
      this.lostTail = { from: this.#committedSeq + 1, to: known };
      this.#committedSeq = known;
      // Recorded in meta so every later scan (and doctor) reports the range.
      await db.put(META_KEY, JSON.stringify({ lastSeq: known, hlc: meta?.hlc ?? tail?.event.hlc ?? this.#clock.current() } satisfies Meta), { sync: true });
    }
    // After a reopen the clock keeps what it issued (a refused batch's stamps
    // may be newer than anything on disk): it never goes back.
    if (!opts.keepClock) this.#clock = new HybridClock({ deviceId: this.#options.deviceId, now: this.#wall });
    for (const stamp of [meta?.hlc, tail?.event.hlc]) {
      if (stamp === undefined) continue;
      try {
        this.#clock.restore(stamp);
      } catch {
        this.#log.error({ stamp }, 'unparsable persisted HLC ignored');
      }
    }
    const lag = this.#clock.lagMs();
    if (lag > CLOCK_LAG_WARN_MS) {
      this.#log.warn({ lagMs: lag }, 'wall clock is behind the journal clock; HLC keeps counting from the journal');
    }
  }

  async stop(): Promise<void> {
    if (this.#state === 'recovering') {
      this.#state = 'stopping';
      await this.#recovery;
    }
    if (this.#state !== 'open' && this.#state !== 'stopping') return;
    this.#state = 'stopping';
    // Everything already accepted is committed before closing.
    while (this.#writer) await this.#writer;
    const db = this.#db;
    this.#db = undefined;
    this.#state = 'closed';
    await db?.close();
    this.#log.info({ lastSeq: this.#committedSeq }, 'journal stopped');
  }

  append<P>(request: AppendRequest<P>): Promise<AppendResult<P>> {
    const down = this.unavailable();
    if (down) return Promise.reject(down);
    const invalid = validateRequest(request);
    if (invalid) return Promise.reject(invalid);
    const key = request.idempotencyKey;
    const existing = this.#inflight.get(key);
    if (existing) {
      if (existing.requestHash !== request.requestHash) return Promise.reject(conflict(key));
      this.stats.replays += 1;
      return existing.promise.then((r) => ({ event: r.event as JournalEvent<P>, replayed: true }));
    }
    // The POS service looks the key up before it appends, so a refusal here
    // never hides an acknowledged sale from its retry.
    const refused = this.#options.admit?.();
    if (refused) return Promise.reject(refused);
    const promise = new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
    });
    this.#inflight.set(key, { requestHash: request.requestHash, promise });
    const done = (): void => {
      if (this.#inflight.get(key)?.promise === promise) this.#inflight.delete(key);
    };
    promise.then(done, done);
    this.#kick();
    return promise as Promise<AppendResult<P>>;
  }

  #kick(): void {
    if (this.#writer) return;
    this.#writer = this.#drain().finally(() => {
      this.#writer = undefined;
      // An append may have queued after drain() saw an empty queue but before
      // this callback ran (it found `writer` still set and did not kick).
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const group = this.#queue.splice(0, MAX_GROUP);
      await this.#commitGroup(group);
    }
  }

  async #commitGroup(group: Pending[]): Promise<void> {
    const db = this.#db;
    const down = this.#state === 'stopping' ? undefined : this.unavailable();
    if (!db || down) {
      const failure = down ?? new TillboxError(ErrorCode.JournalClosed, 'journal is closed', { retryable: true });
      for (const p of group) p.reject(failure);
      return;
    }
    let fresh: Pending[];
    try {
      fresh = await this.#answerKnownKeys(db, group);
    } catch (err) {
      const failure = new TillboxError(ErrorCode.JournalWriteFailed, 'journal lookup failed', { cause: err, retryable: true });
      for (const p of group) p.reject(failure);
      this.#options.onWriteError?.(err);
      return;
    }
    if (fresh.length === 0) return;

    const ops: Array<{ type: 'put'; key: string; value: string }> = [];
    const committed: Array<{ pending: Pending; event: JournalEvent }> = [];
    let seq = this.#committedSeq;
    for (const p of fresh) {
      const r = p.request;
      let event: JournalEvent;
      let value: string;
      try {
        // The caller gets the event parsed back from what is stored, so it can
        // neither differ from a later read nor be mutated through its payload.
        ({ value, stored: event } = encodeRecord(
          {
            id: uuidv7(),
            deviceId: this.#options.deviceId,
            storeId: this.#options.storeId,
            seq: seq + 1,
            hlc: this.#clock.now(),
            type: r.type,
            payload: r.payload,
            idempotencyKey: r.idempotencyKey,
            recordedAt: new Date(this.#wall()).toISOString(),
          },
          r.requestHash,
        ));
      } catch (err) {
        // Only this request is bad; it consumes no seq.
        p.reject(new TillboxError(ErrorCode.Validation, `payload is not JSON: ${(err as Error).message}`, { field: 'payload', cause: err }));
        continue;
      }
      seq += 1;
      ops.push(
        { type: 'put', key: eventKey(seq), value },
        { type: 'put', key: idempotencyIndexKey(r.idempotencyKey), value: String(seq) },
        { type: 'put', key: idIndexKey(event.id), value: String(seq) },
      );
      committed.push({ pending: p, event });
    }
    if (committed.length === 0) return;
    const meta: Meta = { lastSeq: seq, hlc: this.#clock.current() };
    ops.push({ type: 'put', key: META_KEY, value: JSON.stringify(meta) });

    try {
      await db.batch(ops, { sync: true });
    } catch (err) {
      this.stats.failedBatches += 1;
      this.#log.error({ err, size: committed.length }, 'journal batch failed; nothing in it was acknowledged; reopening the journal');
      const failure = isDiskFullError(err) ? diskFullError({ freeBytes: 0, minFreeBytes: 0 }) : new TillboxError(ErrorCode.JournalWriteFailed, 'journal write failed', { cause: err, retryable: true });
      for (const c of committed) c.pending.reject(failure);
      this.#options.onWriteError?.(err);
      this.#beginRecovery(err);
      return;
    }
    this.#committedSeq = seq;
    this.stats.batches += 1;
    this.stats.appends += committed.length;
    this.stats.maxBatch = Math.max(this.stats.maxBatch, committed.length);
    for (const c of committed) {
      c.pending.resolve({ event: c.event, replayed: false });
      this.#notify(c.event);
    }
  }

  /**
   * Resolves requests whose idempotency key is already durable (replay or
   * conflict) and returns the ones that need a new event. Keys are unique
   * within a group: append() folds concurrent duplicates into one pending.
   */
  async #answerKnownKeys(db: JournalDb, group: Pending[]): Promise<Pending[]> {
    const seqs = await db.getMany(group.map((p) => idempotencyIndexKey(p.request.idempotencyKey)));
    const fresh: Pending[] = [];
    for (let i = 0; i < group.length; i++) {
      const p = group[i]!;
      const seqText = seqs[i];
      if (seqText === undefined) {
        fresh.push(p);
        continue;
      }
      const record = await this.#loadRecord(db, Number(seqText));
      if (!record || record.event.idempotencyKey !== p.request.idempotencyKey) {
        // The original exists but cannot be served: never write a second sale for it.
        p.reject(new TillboxError(ErrorCode.JournalCorrupt, `the event for idempotency key ${p.request.idempotencyKey} is corrupt or missing`, { detail: { seq: Number(seqText) } }));
      } else if (record.requestHash !== p.request.requestHash) {
        p.reject(conflict(p.request.idempotencyKey));
      } else {
        this.stats.replays += 1;
        p.resolve({ event: record.event, replayed: true });
      }
    }
    return fresh;
  }

  /** Closes the LevelDB and reopens it until that works (see the header). */
  #beginRecovery(err: unknown): void {
    if (this.#state !== 'open') return;
    this.#state = 'recovering';
    this.#failure = err;
    const before = this.#committedSeq;
    const old = this.#db;
    this.#recovery = (async () => {
      await old?.close().catch((e: unknown) => this.#log.warn({ err: e }, 'closing the failed journal'));
      let delay = this.#options.reopenDelayMs ?? 100;
      while (this.#state === 'recovering' || this.#state === 'stopping') {
        const db = (this.#options.openDb ?? openDb)(this.#options.dir, true);
        try {
          await db.open();
          await this.#recover(db, { keepClock: true });
        } catch (e) {
          await db.close().catch(() => undefined);
          this.#failure = e;
          this.#options.onWriteError?.(e);
          if (this.#state === 'stopping') return;
          this.#log.warn({ err: e, retryInMs: delay }, 'journal reopen failed; retrying');
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, REOPEN_MAX_MS);
          continue;
        }
        this.#db = db;
        this.stats.reopens += 1;
        this.#failure = undefined;
        // Announce an adopted batch before taking appends again: onCommit stays in seq order.
        await this.#announceRecovered(db, before);
        if (this.#state === 'recovering') this.#state = 'open';
        this.#log.warn({ lastSeq: this.#committedSeq }, 'journal reopened after a failed write');
        return;
      }
    })().finally(() => {
      this.#recovery = undefined;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  /**
   * A refused batch that recovery found on disk is adopted: its events are
   * announced to onCommit listeners, in seq order, like any commit (the POS
   * projection, the publisher and the sync lane all follow onCommit).
   */
  async #announceRecovered(db: JournalDb, before: number): Promise<void> {
    if (this.#committedSeq <= before) return;
    this.#log.warn({ from: before + 1, to: this.#committedSeq }, 'a refused journal batch is on disk after all; adopting it');
    for await (const [key, raw] of db.iterator({ gt: eventKey(before), lte: eventKey(this.#committedSeq) })) {
      const decoded = decodeRecord(raw, seqFromEventKey(key));
      if (decoded.ok) this.#notify(decoded.record.event);
    }
  }

  #notify(event: JournalEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        const ret = listener(event) as unknown;
        if (ret instanceof Promise) {
          ret.catch((err: unknown) => this.#log.error({ err, seq: event.seq }, 'journal onCommit listener rejected'));
        }
      } catch (err) {
        this.#log.error({ err, seq: event.seq }, 'journal onCommit listener threw');
      }
    }
  }

  onCommit(listener: (event: JournalEvent) => void): () => void {
    // Wrap so the same function registered twice is called twice and unsubscribes independently.
    const entry = (event: JournalEvent): void => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  async getBySeq(seq: number): Promise<JournalEvent | undefined> {
    if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
    return this.#readRepairing(async (db) => (await this.#loadRecord(db, seq))?.event);
  }

  async getById(id: string): Promise<JournalEvent | undefined> {
    return this.#readRepairing(async (db) => {
      const seq = await db.get(idIndexKey(id));
      if (seq === undefined) return undefined;
      const event = (await this.#loadRecord(db, Number(seq)))?.event;
      return event?.id === id ? event : undefined;
    });
  }

  async getByIdempotencyKey(key: string): Promise<JournalEvent | undefined> {
    return this.#readRepairing(async (db) => {
      const seq = await db.get(idempotencyIndexKey(key));
      if (seq === undefined) return undefined;
      const event = (await this.#loadRecord(db, Number(seq)))?.event;
      return event?.idempotencyKey === key ? event : undefined;
    });
  }

  read(options: ReadOptions = {}): Promise<JournalEvent[]> {
    return this.#readRepairing((db) =>
      this.#readFrom(db, options, (raw, seq) => {
        const decoded = decodeRecord(raw, seq);
        return decoded.ok ? decoded.record.event : decoded.reason;
      }),
    );
  }

  readTexts(options: ReadOptions = {}): Promise<EventText[]> {
    return this.#readRepairing((db) =>
      this.#readFrom(db, options, (raw, seq): EventText | string => {
        const text = seq === null ? undefined : storedEventText(raw, seq);
        if (text !== undefined) return { seq: seq!, text };
        const decoded = decodeRecord(raw, seq);
        return decoded.ok ? { seq: decoded.record.event.seq, text: JSON.stringify(decoded.record.event) } : decoded.reason;
      }),
    );
  }

  /** Reads records in seq order; `take` gives what to return for one, or why it is corrupt (quarantined). */
  async #readFrom<T extends object>(db: JournalDb, options: ReadOptions, take: (raw: string, seq: number | null) => T | string): Promise<T[]> {
    const after = options.after ?? 0;
    const limit = Math.min(options.limit ?? 100, 1000);
    if (!Number.isSafeInteger(after) || after < 0) {
      throw new TillboxError(ErrorCode.Validation, 'after must be a non-negative integer', { field: 'after' });
    }
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new TillboxError(ErrorCode.Validation, 'limit must be a non-negative integer', { field: 'limit' });
    }
    const events: T[] = [];
    if (limit === 0) return events;
    // nextv asks LevelDB for just what is still wanted: a plain for-await reads
    // ahead 1,000 entries whatever the limit (a 500-event sync batch decoded
    // 1,000 values to use half).
    const it = db.iterator({ gt: eventKey(after), lt: EVENT_END });
    try {
      while (events.length < limit) {
        const entries = await it.nextv(limit - events.length);
        if (entries.length === 0) break;
        for (const [key, raw] of entries) {
          const seq = seqFromEventKey(key);
          const taken = take(raw, seq);
          if (typeof taken === 'string') {
            await this.#quarantineAtRead(db, key, seq, taken, raw);
            continue;
          }
          events.push(taken);
        }
      }
    } finally {
      await it.close();
    }
    return events;
  }

  async verify(): Promise<IntegrityReport> {
    const report = await this.#readRepairing((db) => scanJournal(db, { repair: true, log: this.#log, now: this.#wall }));
    // Events committed while the scan ran are not gaps.
    report.lastSeq = Math.max(report.lastSeq, this.#committedSeq);
    return report;
  }

  async #loadRecord(db: JournalDb, seq: number): Promise<StoredRecord | undefined> {
    const key = eventKey(seq);
    const raw = await db.get(key);
    if (raw === undefined) return undefined;
    const decoded = decodeRecord(raw, seq);
    if (decoded.ok) return decoded.record;
    await this.#quarantineAtRead(db, key, seq, decoded.reason, raw);
    return undefined;
  }

  async #quarantineAtRead(db: JournalDb, key: string, seq: number | null, reason: string, raw: string): Promise<void> {
    this.#log.error({ key, seq, reason }, 'corrupt journal record found at read; quarantined and skipped');
    if (this.#quarantining.has(key)) return;
    this.#quarantining.add(key);
    try {
      await quarantine(db, key, seq, reason, raw, this.#wall());
    } catch (err) {
      this.#log.error({ err, key }, 'could not quarantine corrupt journal record');
    } finally {
      this.#quarantining.delete(key);
    }
  }

  #requireOpen(): JournalDb {
    if (this.#state !== 'open' && this.#state !== 'stopping') {
      throw new TillboxError(ErrorCode.JournalClosed, `journal is ${this.#state}`, { retryable: true });
    }
    return this.#db!;
  }
}

function conflict(key: string): TillboxError {
  return new TillboxError(ErrorCode.IdempotencyConflict, 'idempotency key was already used with a different request', { detail: { idempotencyKey: key } });
}

function validateRequest(r: AppendRequest): TillboxError | undefined {
  const bad = (field: string, msg: string): TillboxError => new TillboxError(ErrorCode.Validation, msg, { field });
  if (typeof r !== 'object' || r === null) return bad('request', 'append request must be an object');
  if (typeof r.type !== 'string' || r.type.length === 0 || r.type.length > MAX_TYPE_LENGTH) {
    return bad('type', `type must be a non-empty string of at most ${MAX_TYPE_LENGTH} characters`);
  }
  if (typeof r.idempotencyKey !== 'string' || r.idempotencyKey.length === 0 || r.idempotencyKey.length > MAX_KEY_LENGTH) {
    return bad('idempotencyKey', `idempotencyKey must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`);
  }
  if (typeof r.requestHash !== 'string' || r.requestHash.length === 0) {
    return bad('requestHash', 'requestHash must be a non-empty string');
  }
  if (r.payload === undefined) return bad('payload', 'payload is required');
  return undefined;
}
