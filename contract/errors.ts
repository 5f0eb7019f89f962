// Typed errors with stable codes, grouped in bands per subsystem (the zwave-js
// idea): callers decide retry vs escalate from predicates, never from messages.
export const ErrorCode = {
  // 1xx configuration
  ConfigInvalid: 'TB_CONFIG_INVALID',
  ConfigUnreadable: 'TB_CONFIG_UNREADABLE',
  // 2xx journal
  JournalCorrupt: 'TB_JOURNAL_CORRUPT',
  JournalClosed: 'TB_JOURNAL_CLOSED',
  JournalWriteFailed: 'TB_JOURNAL_WRITE_FAILED',
  IdempotencyConflict: 'TB_IDEMPOTENCY_CONFLICT',
  /** The state dir's disk is (nearly) full: writes are refused until space is freed. */
  DiskFull: 'TB_DISK_FULL',
  /** A store failed a write and is reopening to recover its log; try again shortly. */
  StorageRecovering: 'TB_STORAGE_RECOVERING',
  // 3xx POS rules
  Validation: 'TB_VALIDATION',
  UnknownSku: 'TB_UNKNOWN_SKU',
  NotFound: 'TB_NOT_FOUND',
  TenderMismatch: 'TB_TENDER_MISMATCH',
  Forbidden: 'TB_FORBIDDEN',
  Unauthorized: 'TB_UNAUTHORIZED',
  StateConflict: 'TB_STATE_CONFLICT',
  // 4xx broker
  BrokerStartFailed: 'TB_BROKER_START_FAILED',
  // 9xx lifecycle
  NotReady: 'TB_NOT_READY',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface TillboxErrorOptions {
  cause?: unknown;
  /** Field path (dot notation) the error is about, for validation errors. */
  field?: string;
  /** Extra machine-readable detail, safe to show to a client (never a secret). */
  detail?: Record<string, unknown>;
  retryable?: boolean;
}

export class TillboxError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly detail: Record<string, unknown> | undefined;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: TillboxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TillboxError';
    this.code = code;
    this.field = options.field;
    this.detail = options.detail;
    this.retryable = options.retryable ?? false;
  }
}

export function isTillboxError(err: unknown, code?: ErrorCode): err is TillboxError {
  return err instanceof TillboxError && (code === undefined || err.code === code);
}

/** True when trying the same operation again later may succeed. */
export function isRetryable(err: unknown): boolean {
  return err instanceof TillboxError && err.retryable;
}
