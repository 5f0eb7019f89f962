import { ErrorCode, isTillboxError, type ErrorCode as ErrorCodeT } from '../../contract/errors.ts';
import type { FieldError, Problem } from '../../contract/problem.ts';

// Every error the API answers is a problem+json document (RFC 9457). This is
// the one table from error codes to HTTP status.

export const STATUS_BY_CODE: Partial<Record<ErrorCodeT, number>> = {
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
};

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
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Codes for transport-level errors that have no TillboxError code. */
export const HttpCode = {
  MalformedJson: 'TB_HTTP_MALFORMED_JSON',
  UnsupportedMediaType: 'TB_HTTP_UNSUPPORTED_MEDIA_TYPE',
  BodyTooLarge: 'TB_HTTP_BODY_TOO_LARGE',
  BadRequest: 'TB_HTTP_BAD_REQUEST',
  Internal: 'TB_INTERNAL',
} as const;

export function problem(status: number, code: string, detail: string, errors?: FieldError[]): Problem {
  const slug = code
    .replace(/^TB_(HTTP_)?/, '')
    .toLowerCase()
    .replaceAll('_', '-');
  const p: Problem = { type: `urn:tillbox:problem:${slug}`, title: TITLES[status] ?? 'Error', status, detail, code };
  if (errors && errors.length > 0) p.errors = errors;
  return p;
}

const FASTIFY: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, HttpCode.MalformedJson],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, HttpCode.MalformedJson],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, HttpCode.UnsupportedMediaType],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, HttpCode.BodyTooLarge],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, HttpCode.BadRequest],
};

/** Maps any thrown value to a problem. 5xx details never carry internal messages. */
export function toProblem(err: unknown): Problem {
  if (isTillboxError(err)) {
    const status = STATUS_BY_CODE[err.code] ?? 500;
    if (status >= 500 && status !== 503) return problem(status, err.code, 'internal error');
    const errors = (err.detail?.errors as FieldError[] | undefined) ?? (err.field !== undefined ? [{ path: err.field, message: err.message }] : undefined);
    return problem(status, err.code, err.message, errors);
  }
  const e = err as { code?: string; statusCode?: number; message?: string } | null;
  const known = e?.code ? FASTIFY[e.code] : undefined;
  if (known) return problem(known[0], known[1], e?.message ?? TITLES[known[0]]!);
  // JSON.parse errors and secure-json-parse (prototype poisoning) come as 400s without our codes.
  if (err instanceof SyntaxError || (e?.statusCode === 400 && /JSON|__proto__|constructor/i.test(e.message ?? ''))) {
    return problem(400, HttpCode.MalformedJson, 'request body is not valid JSON');
  }
  if (e?.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return problem(e.statusCode, HttpCode.BadRequest, e.message ?? TITLES[e.statusCode] ?? 'bad request');
  }
  return problem(500, HttpCode.Internal, 'internal error');
}
