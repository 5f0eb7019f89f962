import type { BoxStatus, HealthReason } from '../../contract/box-status.ts';
import { EnrolErrorCode, ErrorCode } from '../../contract/errors.ts';
import type { IdentityState } from '../../contract/enrolment.ts';
import { localTopics } from '../../contract/topics.ts';
import type { LevelJournal } from '../journal/level-journal.ts';
import type { IntegrityReport } from '../journal/types.ts';
import type { Logger } from '../log.ts';
import type { StorageGuard } from '../storage/storage-guard.ts';
import { Backoff } from '../../lib/backoff.ts';

// The box's own health, in one place: /healthz, `tillbox doctor` (through
// /api/v1/status) and the retained store/{storeId}/box/status all read it.
// A reason refuses sales; a warning does not. The retained message is
// republished whenever the set of reasons or warnings changes, and retried
// with backoff when the broker cannot take it (its store may be full too).

export interface BoxStatusContext {
  deviceId: string;
  storeId: string;
  storage: StorageGuard;
  journal: LevelJournal;
  broker: { storeStatus: { recovering: boolean; failedBatches: number; reopens: number } };
  publisher: { cursor: number; failures: number };
  integrity: () => IntegrityReport | null;
  publish: (topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }) => Promise<void>;
  /** The certificate's state (absent: not reported). Expired or revoked is a warning: sync stops, selling does not. */
  identity?: () => { state: IdentityState; pairingCode?: string | undefined };
  log: Logger;
  /** How often the status is re-evaluated, ms (default 1000). */
  intervalMs?: number;
}

const mb = (b: number): number => Math.round((b / 1048576) * 10) / 10;

export class BoxStatusMonitor {
  readonly #ctx: BoxStatusContext;
  readonly #since = new Map<string, string>();
  // Short cap: the retained status should follow the box within seconds once the broker takes writes again.
  readonly #backoff = new Backoff({ baseMs: 200, maxMs: 2000 });
  #timer: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #published = '';
  #publishing = false;
  #offStorage: (() => void) | undefined;

  constructor(ctx: BoxStatusContext) {
    this.#ctx = ctx;
  }

  start(): void {
    this.#offStorage = this.#ctx.storage.onChange(() => this.evaluate());
    this.#timer = setInterval(() => this.evaluate(), this.#ctx.intervalMs ?? 1000);
    this.#timer.unref();
    this.evaluate();
  }

  stop(): void {
    this.#offStorage?.();
    if (this.#timer) clearInterval(this.#timer);
    if (this.#retry) clearTimeout(this.#retry);
    this.#timer = this.#retry = undefined;
  }

  /** The status now (computed, not cached). */
  current(): BoxStatus {
    const { storage, journal, broker, publisher, integrity } = this.#ctx;
    const reasons: HealthReason[] = [];
    const warnings: HealthReason[] = [];
    const seen = new Set<string>();
    const add = (list: HealthReason[], key: string, code: string, message: string): void => {
      seen.add(key);
      if (!this.#since.has(key)) this.#since.set(key, new Date().toISOString());
      list.push({ code, message, since: this.#since.get(key)! });
    };
    const st = storage.status;
    if (st.state === 'full') {
      add(reasons, 'disk', ErrorCode.DiskFull, `the disk is full (${mb(st.freeBytes)} MB free, sales need ${mb(st.minFreeBytes)} MB): free space on the box; selling resumes by itself`);
    }
    if (journal.condition === 'recovering') {
      add(reasons, 'journal', ErrorCode.StorageRecovering, 'the journal is reopening after a failed write');
    } else if (journal.condition !== 'open') {
      add(reasons, 'journal', ErrorCode.JournalClosed, `the journal is ${journal.condition}`);
    }
    const bs = broker.storeStatus;
    if (bs.recovering) add(warnings, 'broker', ErrorCode.StorageRecovering, 'the local broker store is reopening after a failed write; MQTT clients are refused meanwhile');
    const report = integrity();
    if (report && !report.ok) {
      add(warnings, 'integrity', ErrorCode.JournalCorrupt, `the journal has ${report.quarantined.length} quarantined record(s) and ${report.gaps.length} missing seq(s): run tillbox doctor`);
    }
    const id = this.#ctx.identity?.();
    if (id?.state === 'revoked') add(warnings, 'identity', EnrolErrorCode.Revoked, "HQ revoked this box's certificate: sync is off, selling continues; enrol again under a new device id");
    if (id?.state === 'expired') add(warnings, 'identity', EnrolErrorCode.Expired, "the box's certificate expired: sync is off, selling continues; enrol again (tillbox enroll)");
    for (const key of this.#since.keys()) if (!seen.has(key)) this.#since.delete(key);
    const selling = reasons.length === 0;
    return {
      v: 1,
      deviceId: this.#ctx.deviceId,
      storeId: this.#ctx.storeId,
      state: !selling ? 'refusing' : warnings.length > 0 ? 'degraded' : 'ok',
      selling,
      reasons,
      warnings,
      storage: { state: st.state, freeMB: mb(st.freeBytes), totalMB: mb(st.totalBytes), minFreeMB: mb(st.minFreeBytes), reserveHeld: st.reserveHeld, fullEpisodes: st.fullEpisodes },
      journal: {
        state: journal.condition,
        lastSeq: journal.lastSeq,
        failedBatches: journal.stats.failedBatches,
        reopens: journal.stats.reopens,
        quarantined: report ? report.quarantined.length : null,
        gaps: report ? report.gaps.length : null,
      },
      broker: { storeRecovering: bs.recovering, failedBatches: bs.failedBatches, reopens: bs.reopens },
      publisher: { cursor: publisher.cursor, failures: publisher.failures },
      ...(id ? { identity: { state: id.state, ...(id.pairingCode ? { pairingCode: id.pairingCode } : {}) } } : {}),
      at: new Date().toISOString(),
    };
  }

  /** Re-evaluates and republishes the retained status if what it says changed. */
  evaluate(): void {
    const status = this.current();
    const signature = JSON.stringify([status.state, status.reasons, status.warnings, status.identity]);
    if (signature === this.#published || this.#publishing || this.#retry) return;
    this.#publishing = true;
    this.#ctx
      .publish(localTopics.boxStatus(this.#ctx.storeId), JSON.stringify(status), { qos: 1, retain: true })
      .then(
        () => {
          this.#published = signature;
          this.#backoff.reset();
          if (status.state !== 'ok') this.#ctx.log.warn({ state: status.state, reasons: status.reasons.map((r) => r.code), warnings: status.warnings.map((w) => w.code) }, 'box status');
          else this.#ctx.log.info('box status ok');
        },
        (err: unknown) => {
          const delay = this.#backoff.next();
          if (this.#backoff.attempt === 1) this.#ctx.log.warn({ err, retryInMs: delay }, 'cannot publish the box status; retrying');
          this.#retry = setTimeout(() => {
            this.#retry = undefined;
            this.evaluate();
          }, delay);
          this.#retry.unref();
        },
      )
      .finally(() => {
        this.#publishing = false;
      });
  }
}
