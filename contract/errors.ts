// Typed errors with stable codes, grouped in bands per subsystem (the zwave-js
// idea): callers decide retry vs escalate from predicates, never from
// messages. Every code of tillbox is in this file, in its band; every error
// class extends TillboxError (code, retryable, disconnected); HTTP statuses
// are chosen at the HTTP edges (appliance/http/problem.ts, cloud/hq/http.ts),
// never here.
//
//   band  prefix            owner
//   1xx   TB_CONFIG_*       configuration
//   2xx   TB_JOURNAL_*, TB_DISK_*, TB_STORAGE_*   journal and storage
//   3xx   POS rules         validation, catalog, tenders, auth
//   4xx   TB_BROKER_*       local broker
//   5xx   TB_SYNC_*         cloud sync
//   6xx   TB_TRANSPORT_*, TB_SCALE_*, TB_SCAN_*, TB_PRINT_*, TB_DEVICE_*   peripherals
//   7xx   TB_LEDGER_*       HQ ledger
//   8xx   TB_ENROL_*        certificate provisioning (box and HQ)
//   9xx   TB_NOT_READY, TB_TIMEOUT   lifecycle

export const ErrorCode = {
  // 1xx configuration
  ConfigInvalid: 'TB_CONFIG_INVALID',
  ConfigUnreadable: 'TB_CONFIG_UNREADABLE',
  // 2xx journal and storage
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
  PacketTooLarge: 'TB_BROKER_PACKET_TOO_LARGE',
  // 9xx lifecycle
  NotReady: 'TB_NOT_READY',
  Timeout: 'TB_TIMEOUT',
} as const;

/** 5xx cloud sync. */
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
  /** A cloud command failed. */
  Command: 'TB_SYNC_COMMAND',
} as const;

/** 6xx peripherals: transports. */
export const TransportErrorCode = {
  UriInvalid: 'TB_TRANSPORT_URI_INVALID',
  OpenFailed: 'TB_TRANSPORT_OPEN_FAILED',
  NotOpen: 'TB_TRANSPORT_NOT_OPEN',
  Disconnected: 'TB_TRANSPORT_DISCONNECTED',
  WriteFailed: 'TB_TRANSPORT_WRITE_FAILED',
  Timeout: 'TB_TRANSPORT_TIMEOUT',
  Unsupported: 'TB_TRANSPORT_UNSUPPORTED',
} as const;

/** 6xx peripherals: scales. */
export const ScaleErrorCode = {
  Timeout: 'TB_SCALE_TIMEOUT',
  Framing: 'TB_SCALE_FRAMING',
  Protocol: 'TB_SCALE_PROTOCOL',
  Refused: 'TB_SCALE_REFUSED',
  Unsupported: 'TB_SCALE_UNSUPPORTED',
  NotSellable: 'TB_SCALE_NOT_SELLABLE',
  Closed: 'TB_SCALE_CLOSED',
} as const;

/** 6xx peripherals: scans, print jobs, and the device command replies on MQTT. */
export const DeviceErrorCode = {
  ScanInvalid: 'TB_SCAN_INVALID',
  PrintInvalid: 'TB_PRINT_INVALID',
  PrintNoResolver: 'TB_PRINT_NO_RESOLVER',
  PrintSaleUnavailable: 'TB_PRINT_SALE_UNAVAILABLE',
  CommandInvalid: 'TB_DEVICE_COMMAND_INVALID',
  CommandUnknown: 'TB_DEVICE_COMMAND_UNKNOWN',
  CommandFailed: 'TB_DEVICE_COMMAND_FAILED',
  Unknown: 'TB_DEVICE_UNKNOWN',
  Offline: 'TB_DEVICE_OFFLINE',
  Unavailable: 'TB_DEVICE_UNAVAILABLE',
  Timeout: 'TB_DEVICE_TIMEOUT',
} as const;

/** 7xx HQ ledger. */
export const LedgerErrorCode = {
  NotFound: 'TB_LEDGER_NOT_FOUND',
  Invalid: 'TB_LEDGER_INVALID',
  Conflict: 'TB_LEDGER_CONFLICT',
} as const;

/** 8xx certificate provisioning (EST enrolment, renewal, revocation). */
export const EnrolErrorCode = {
  /** HQ's EST server could not be reached (DNS, refused, timeout). */
  Unreachable: 'TB_ENROL_UNREACHABLE',
  /** The TLS handshake with HQ failed or its certificate is not from the pinned CA. */
  Tls: 'TB_ENROL_TLS',
  /** The CA HQ sent does not match the fingerprint given out of band (RFC 7030 §4.1.1). */
  Fingerprint: 'TB_ENROL_FINGERPRINT',
  /** The token is unknown, used, expired, or for another device. */
  TokenRefused: 'TB_ENROL_TOKEN_REFUSED',
  /** The box's clock and HQ's differ by more than CLOCK_SKEW_MAX_MS. */
  ClockSkew: 'TB_ENROL_CLOCK_SKEW',
  /** HQ waits for an operator to approve the pairing code (202 + Retry-After). */
  Pending: 'TB_ENROL_PENDING',
  /** The certificate was revoked: re-enrolment is refused. */
  Revoked: 'TB_ENROL_REVOKED',
  /** The request or HQ's answer is malformed (CSR, PKCS#7, subject). */
  BadMessage: 'TB_ENROL_BAD_MESSAGE',
  /** The box's certificate expired before it could be renewed: sync is off until it enrols again. */
  Expired: 'TB_ENROL_EXPIRED',
  /** The box has no identity yet (enrol first). */
  NotEnrolled: 'TB_ENROL_NOT_ENROLLED',
} as const;

type Values<T> = T[keyof T];
export type EnrolErrorCode = Values<typeof EnrolErrorCode>;
export type SyncErrorCode = Values<typeof SyncErrorCode>;
export type TransportErrorCode = Values<typeof TransportErrorCode>;
export type ScaleErrorCode = Values<typeof ScaleErrorCode>;
export type DeviceErrorCode = Values<typeof DeviceErrorCode>;
export type LedgerErrorCode = Values<typeof LedgerErrorCode>;
export type ErrorCode =
  | Values<typeof ErrorCode>
  | Values<typeof SyncErrorCode>
  | Values<typeof TransportErrorCode>
  | Values<typeof ScaleErrorCode>
  | Values<typeof DeviceErrorCode>
  | Values<typeof LedgerErrorCode>
  | Values<typeof EnrolErrorCode>;

export interface TillboxErrorOptions {
  cause?: unknown;
  /** Field path (dot notation) the error is about, for validation errors. */
  field?: string;
  /** Extra machine-readable detail, safe to show to a client (never a secret). */
  detail?: Record<string, unknown>;
  retryable?: boolean;
  /** The peer or device went away (serialport's convention): reopen later. */
  disconnected?: boolean;
}

/** The one error base of tillbox: a code from a band above, retryable, disconnected. */
export class TillboxError<C extends string = ErrorCode> extends Error {
  readonly code: C;
  readonly field: string | undefined;
  readonly detail: Record<string, unknown> | undefined;
  readonly retryable: boolean;
  readonly disconnected: boolean;

  constructor(code: C, message: string, options: TillboxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TillboxError';
    this.code = code;
    this.field = options.field;
    this.detail = options.detail;
    this.retryable = options.retryable ?? false;
    this.disconnected = options.disconnected ?? false;
  }
}

export function isTillboxError(err: unknown, code?: ErrorCode): err is TillboxError {
  return err instanceof TillboxError && (code === undefined || err.code === code);
}

/** True when trying the same operation again later may succeed (any tillbox error). */
export function isRetryable(err: unknown): boolean {
  return err instanceof TillboxError && err.retryable;
}

/** True when the error means the device or peer is gone (unplug, reset, dropped link). */
export function isDisconnected(err: unknown): boolean {
  return err instanceof TillboxError && err.disconnected;
}
