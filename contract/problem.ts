import { Type, type Static } from '@sinclair/typebox';
import { EnrolErrorCode, ErrorCode, LedgerErrorCode, type ErrorCode as ErrorCodeT } from './errors.ts';

// RFC 9457 problem details, as every tillbox HTTP error is answered
// (Content-Type: application/problem+json).

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const FieldError = Type.Object(
  {
    /** Dot path into the request, e.g. `lines.0.qty`, `headers.idempotency-key`; '' for the whole body. */
    path: Type.String(),
    message: Type.String(),
  },
  { additionalProperties: false },
);
export type FieldError = Static<typeof FieldError>;

export const Problem = Type.Object(
  {
    /** `urn:tillbox:problem:<slug>`, stable per error kind. */
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    detail: Type.String(),
    /** Stable machine code, e.g. TB_VALIDATION (contract/errors.ts) or TB_HTTP_* for transport errors. */
    code: Type.String(),
    errors: Type.Optional(Type.Array(FieldError)),
    /** /healthz 503 and refusals caused by the box's state: every reason (contract/box-status.ts). */
    reasons: Type.Optional(Type.Array(Type.Object({ code: Type.String(), message: Type.String(), since: Type.String() }, { additionalProperties: false }))),
  },
  { additionalProperties: false },
);
export type Problem = Static<typeof Problem>;

/** Codes for transport-level HTTP errors that no domain error has. */
export const HttpCode = {
  MalformedJson: 'TB_HTTP_MALFORMED_JSON',
  UnsupportedMediaType: 'TB_HTTP_UNSUPPORTED_MEDIA_TYPE',
  BodyTooLarge: 'TB_HTTP_BODY_TOO_LARGE',
  BadRequest: 'TB_HTTP_BAD_REQUEST',
  TooManyRequests: 'TB_HTTP_TOO_MANY_REQUESTS',
  Internal: 'TB_INTERNAL',
} as const;

/**
 * The one table from error codes to HTTP status, for the box's API and HQ's
 * (the HTTP edges: domain errors never carry a status). Unlisted: 500.
 */
export const STATUS_BY_CODE: Partial<Record<ErrorCodeT | string, number>> = {
  [ErrorCode.Validation]: 400, // malformed or schema-violating request, with field paths
  [ErrorCode.Unauthorized]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.StateConflict]: 409, // over-refund, void after refund, already voided, empty cart
  [ErrorCode.UnknownSku]: 422, // well-formed, but the catalog has no such item
  [ErrorCode.TenderMismatch]: 422,
  [ErrorCode.IdempotencyConflict]: 422, // same Idempotency-Key, different request
  [ErrorCode.NotReady]: 503,
  [ErrorCode.JournalClosed]: 503,
  [ErrorCode.JournalWriteFailed]: 503,
  [ErrorCode.DiskFull]: 503,
  [ErrorCode.StorageRecovering]: 503,
  [ErrorCode.JournalCorrupt]: 500,
  [ErrorCode.Timeout]: 504,
  [LedgerErrorCode.NotFound]: 404,
  [LedgerErrorCode.Invalid]: 400,
  [LedgerErrorCode.Conflict]: 409,
  [EnrolErrorCode.TokenRefused]: 401, // RFC 7030 §4.2.3: an unauthorized client is refused
  [EnrolErrorCode.Revoked]: 403,
  [EnrolErrorCode.BadMessage]: 400,
  [EnrolErrorCode.Pending]: 202, // with Retry-After (RFC 7030 §4.2.3, manual authorization)
  [HttpCode.MalformedJson]: 400,
  [HttpCode.UnsupportedMediaType]: 415,
  [HttpCode.BodyTooLarge]: 413,
  [HttpCode.BadRequest]: 400,
  [HttpCode.TooManyRequests]: 429,
};

export function statusOf(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The one problem builder: type `urn:tillbox:problem:<slug of the code>`. */
export function problem(status: number, code: string, detail: string, errors?: FieldError[]): Problem {
  const slug = code
    .replace(/^TB_(HTTP_)?/, '')
    .toLowerCase()
    .replaceAll('_', '-');
  const p: Problem = { type: `urn:tillbox:problem:${slug}`, title: TITLES[status] ?? 'Error', status, detail, code };
  if (errors && errors.length > 0) p.errors = errors;
  return p;
}
