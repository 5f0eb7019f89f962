// Sync error codes, their own band (TB_SYNC_*), with predicates so the bridge
// and its callers decide retry vs escalate from the code, never a message.

export const SyncErrorCode = {
  /** The cloud broker could not be reached or dropped the connection. */
  Connect: 'TB_SYNC_CONNECT',
  /** The broker refused the MQTT protocol version (5 → 3.1.1 fallback). */
  ProtocolVersion: 'TB_SYNC_PROTOCOL_VERSION',
  /** The broker refused our credentials or certificate. */
  NotAuthorized: 'TB_SYNC_NOT_AUTHORIZED',
  /** HQ did not ack a batch in time; it is resent with a new batch id. */
  AckTimeout: 'TB_SYNC_ACK_TIMEOUT',
  /** HQ refused a batch; the events are kept and retried later. */
  Rejected: 'TB_SYNC_REJECTED',
  /** A message from the cloud did not match the contract; it is ignored. */
  BadMessage: 'TB_SYNC_BAD_MESSAGE',
  /** Sync state on disk could not be read or written. */
  State: 'TB_SYNC_STATE',
  /** The bridge is not running. */
  Stopped: 'TB_SYNC_STOPPED',
} as const;
export type SyncErrorCode = (typeof SyncErrorCode)[keyof typeof SyncErrorCode];

const RETRYABLE = new Set<SyncErrorCode>([SyncErrorCode.Connect, SyncErrorCode.ProtocolVersion, SyncErrorCode.AckTimeout, SyncErrorCode.Rejected]);

export class SyncError extends Error {
  readonly code: SyncErrorCode;
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: SyncErrorCode, message: string, options: { cause?: unknown; detail?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SyncError';
    this.code = code;
    this.detail = options.detail;
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
