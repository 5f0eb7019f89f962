// Sync errors: the TB_SYNC_* band of contract/errors.ts, with predicates so the
// bridge and its callers decide retry vs escalate from the code, never a message.
import { SyncErrorCode, TillboxError } from '../../contract/errors.ts';

export { SyncErrorCode } from '../../contract/errors.ts';

const RETRYABLE = new Set<SyncErrorCode>([SyncErrorCode.Connect, SyncErrorCode.ProtocolVersion, SyncErrorCode.AckTimeout, SyncErrorCode.Rejected]);

export class SyncError extends TillboxError<SyncErrorCode> {
  constructor(code: SyncErrorCode, message: string, options: { cause?: unknown; detail?: Record<string, unknown> } = {}) {
    super(code, message, { ...options, retryable: RETRYABLE.has(code), disconnected: code === SyncErrorCode.Connect });
    this.name = 'SyncError';
  }
}

export function isSyncError(err: unknown, code?: SyncErrorCode): err is SyncError {
  return err instanceof SyncError && (code === undefined || err.code === code);
}

/** The link is down or flaky: trying again later (with backoff) may succeed. */
export function isTransientSyncError(err: unknown): boolean {
  return err instanceof SyncError && RETRYABLE.has(err.code);
}

/** Retrying without an operator (new cert, new credentials) will not help. */
export function needsOperator(err: unknown): boolean {
  return err instanceof SyncError && err.code === SyncErrorCode.NotAuthorized;
}
