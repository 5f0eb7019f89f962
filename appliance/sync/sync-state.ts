import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoalescedWriter, RELAXED_WRITE_INTERVAL_MS, readJson } from './durable-file.ts';
import { SyncError, SyncErrorCode } from './errors.ts';
import type { Logger } from '../log.ts';

// What the box knows HQ has committed, kept in <stateDir>/sync/state.json.
// Only HQ acks move it forward, so losing the newest write (power cut between
// an ack and its fsync) only means resending a few events HQ skips as
// duplicates; it can never mark an unsynced event synced.

export interface LossEntry {
  lane: string;
  rule?: string;
  dropped: number;
  firstDroppedAt: string;
  lastDroppedAt: string;
}

export interface RejectedInfo {
  count: number;
  last?: { batchId: string; fromSeq: number; toSeq: number; reason: string; at: string };
}

export interface SyncStateData {
  v: 1;
  /** HQ's contiguous watermark as last acked. */
  lastAckedSeq: number;
  /** Seqs above the watermark HQ acked as applied (live lane), ascending. */
  ackedAbove: number[];
  lastAckAt: string | null;
  rejected: RejectedInfo;
  /** Drops not yet reported upstream (key: lane + rule). */
  loss: Record<string, LossEntry>;
  /** Drops ever, reported or not. */
  droppedTotal: number;
}

export function syncPaths(stateDir: string) {
  const dir = join(stateDir, 'sync');
  return {
    dir,
    state: join(dir, 'state.json'),
    catalog: join(dir, 'catalog.json'),
    conflicts: join(dir, 'conflicts.json'),
    mapped: join(dir, 'mapped'),
    /** The cloud session counter (FleetStatus.bdSeq). */
    bdSeq: join(dir, 'bdseq'),
  };
}

/**
 * The highest seq HQ has acked as applied, read straight from the state file
 * (0 when there is none): the journal checks at start that it still holds it.
 */
export function readSyncedSeq(stateDir: string): number {
  try {
    const d = JSON.parse(readFileSync(syncPaths(stateDir).state, 'utf8')) as Partial<SyncStateData>;
    const above = Array.isArray(d.ackedAbove) ? d.ackedAbove.filter((n) => Number.isSafeInteger(n)) : [];
    return Math.max(Number.isSafeInteger(d.lastAckedSeq) ? d.lastAckedSeq! : 0, ...above);
  } catch {
    return 0;
  }
}

// A journal pruner, when there is one, must prune below the watermark on
// disk (written at most once a second, RELAXED_WRITE_INTERVAL_MS), not the
// one in memory.
const EMPTY: SyncStateData = { v: 1, lastAckedSeq: 0, ackedAbove: [], lastAckAt: null, rejected: { count: 0 }, loss: {}, droppedTotal: 0 };

export class SyncStateStore {
  readonly #file: string;
  readonly #log: Logger;
  #data: SyncStateData = structuredClone(EMPTY);
  #above = new Set<number>();
  readonly #writer: CoalescedWriter;

  constructor(file: string, log: Logger) {
    this.#file = file;
    this.#log = log;
    this.#writer = new CoalescedWriter(
      file,
      () => this.snapshot(),
      (err) => this.#log.error({ err, file }, 'cannot persist sync state'),
      { minIntervalMs: RELAXED_WRITE_INTERVAL_MS },
    );
  }

  async load(): Promise<void> {
    let raw: unknown;
    try {
      raw = await readJson(this.#file);
    } catch (err) {
      // An unreadable state file costs a resend from seq 1 (HQ skips duplicates), never a loss.
      this.#log.error({ err, file: this.#file }, 'sync state unreadable; starting from seq 0 (HQ dedupes)');
      raw = undefined;
    }
    if (raw === undefined) return;
    const d = raw as Partial<SyncStateData>;
    if (d.v !== 1 || !Number.isSafeInteger(d.lastAckedSeq) || !Array.isArray(d.ackedAbove)) {
      throw new SyncError(SyncErrorCode.State, `sync state ${this.#file} has an unknown shape`);
    }
    this.#data = { ...structuredClone(EMPTY), ...d } as SyncStateData;
    this.#above = new Set(this.#data.ackedAbove.filter((s) => s > this.#data.lastAckedSeq));
  }

  get lastAckedSeq(): number {
    return this.#data.lastAckedSeq;
  }

  get lastAckAt(): string | null {
    return this.#data.lastAckAt;
  }

  get rejected(): RejectedInfo {
    return this.#data.rejected;
  }

  get droppedTotal(): number {
    return this.#data.droppedTotal;
  }

  isAcked(seq: number): boolean {
    return seq <= this.#data.lastAckedSeq || this.#above.has(seq);
  }

  /** How many seqs above the watermark are acked. */
  get ackedAboveCount(): number {
    return this.#above.size;
  }

  /** Folds an ack in: the watermark only moves up; seqs right above it compact into it. */
  applyAck(lastAppliedSeq: number, appliedAbove: readonly number[], at: string): boolean {
    const before = this.#data.lastAckedSeq;
    let w = Math.max(before, lastAppliedSeq);
    for (const s of appliedAbove) if (s > w) this.#above.add(s);
    while (this.#above.has(w + 1)) {
      this.#above.delete(w + 1);
      w += 1;
    }
    for (const s of this.#above) if (s <= w) this.#above.delete(s);
    this.#data.lastAckedSeq = w;
    this.#data.lastAckAt = at;
    return w !== before;
  }

  /**
   * HQ says it expects `expectedSeq` although we believed more was acked:
   * its ledger went back (restore) or the ack was older than others. Either
   * way, trusting the lower mark only costs resends.
   */
  rewindTo(expectedSeq: number): void {
    if (expectedSeq - 1 >= this.#data.lastAckedSeq) return;
    this.#log.warn({ lastAckedSeq: this.#data.lastAckedSeq, expectedSeq }, 'HQ expects an older seq than acked; resending from there');
    this.#data.lastAckedSeq = Math.max(0, expectedSeq - 1);
    this.#above.clear();
  }

  recordRejected(info: NonNullable<RejectedInfo['last']>): void {
    this.#data.rejected = { count: this.#data.rejected.count + 1, last: info };
  }

  recordLoss(lane: string, rule: string | undefined, dropped: number, at: string): void {
    if (dropped <= 0) return;
    const key = `${lane}\u0000${rule ?? ''}`;
    const e = this.#data.loss[key];
    if (e) {
      e.dropped += dropped;
      e.lastDroppedAt = at;
    } else {
      const entry: LossEntry = { lane, dropped, firstDroppedAt: at, lastDroppedAt: at };
      if (rule !== undefined) entry.rule = rule;
      this.#data.loss[key] = entry;
    }
    this.#data.droppedTotal += dropped;
  }

  /** Unreported loss entries. */
  lossEntries(): LossEntry[] {
    return Object.values(this.#data.loss).map((e) => ({ ...e }));
  }

  /** Removes what a delivered LossReport covered (drops since then stay). */
  clearReportedLoss(reported: readonly LossEntry[]): void {
    for (const r of reported) {
      const key = `${r.lane}\u0000${r.rule ?? ''}`;
      const e = this.#data.loss[key];
      if (!e) continue;
      if (e.dropped <= r.dropped) delete this.#data.loss[key];
      else e.dropped -= r.dropped;
    }
  }

  snapshot(): SyncStateData {
    return { ...this.#data, ackedAbove: [...this.#above].sort((a, b) => a - b), loss: structuredClone(this.#data.loss), rejected: structuredClone(this.#data.rejected) };
  }

  save(): Promise<void> {
    return this.#writer.save();
  }

  flush(): Promise<void> {
    return this.#writer.flush();
  }
}
