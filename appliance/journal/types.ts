// The journal's public shape. The POS service depends on this interface only;
// the level-backed implementation lives beside it.
import type { JournalEvent } from '../../contract/events.ts';

/** An immutable, committed POS event (DESIGN.md "The journal"); its schema lives in contract/events.ts. */
export type { JournalEvent };

export interface AppendRequest<P = unknown> {
  type: string;
  payload: P;
  idempotencyKey: string;
  /**
   * Hash of the client's request that produced this event. A retry with the
   * same key and same hash returns the original event; a different hash is an
   * IdempotencyConflict error.
   */
  requestHash: string;
}

export interface AppendResult<P = unknown> {
  event: JournalEvent<P>;
  /** True when the key was seen before and the original event is returned. */
  replayed: boolean;
}

export interface ReadOptions {
  /** Return events with seq > after (default 0). */
  after?: number;
  /** Maximum number of events (default 100, capped at 1000). */
  limit?: number;
}

export interface IntegrityReport {
  ok: boolean;
  checked: number;
  lastSeq: number;
  /** Records whose checksum or shape was wrong; they were moved to quarantine. */
  quarantined: Array<{ seq: number | null; key: string; reason: string }>;
  /** Missing sequence numbers below lastSeq. */
  gaps: number[];
  /** Events whose HLC is not greater than the previous event's. */
  hlcRegressions: number[];
  /**
   * Events whose idempotency-key or id index entry is missing or points elsewhere
   * (a missing key index would let a retry become a second sale). Missing entries
   * are rewritten when the scan repairs. Optional so older producers still type-check.
   */
  indexErrors?: number[];
  /** Highest hybrid logical clock the journal has persisted (absent when empty). */
  lastHlc?: string;
}

export interface Journal {
  /** Opens the store, recovers seq and HLC, verifies the tail. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Durably appends one event (fsync'd, group-committed with concurrent
   * appends) and resolves only after the commit. Listeners registered with
   * onCommit are called after the commit, in seq order.
   */
  append<P>(request: AppendRequest<P>): Promise<AppendResult<P>>;
  getById(id: string): Promise<JournalEvent | undefined>;
  getBySeq(seq: number): Promise<JournalEvent | undefined>;
  getByIdempotencyKey(key: string): Promise<JournalEvent | undefined>;
  read(options?: ReadOptions): Promise<JournalEvent[]>;
  /**
   * Like read, but each event as its JSON text (what the sync lane sends to
   * HQ), taken from the stored record without decoding it where it can be.
   */
  readTexts(options?: ReadOptions): Promise<EventText[]>;
  /** Highest committed seq (0 when empty). */
  readonly lastSeq: number;
  /** Full scan: checksums, gaps, HLC monotonicity; quarantines corrupt records. */
  verify(): Promise<IntegrityReport>;
  onCommit(listener: (event: JournalEvent) => void): () => void;
}

/** A committed event as JSON text, with its seq. */
export interface EventText {
  seq: number;
  text: string;
}
