import { isTillboxError } from '../../contract/errors.ts';
import { HttpCode, problem, STATUS_BY_CODE, statusOf, type FieldError, type Problem } from '../../contract/problem.ts';

// Every error the API answers is a problem+json document (RFC 9457); the
// builder and the code -> status table live in contract/problem.ts (HQ uses them too).

export { HttpCode, problem, STATUS_BY_CODE };

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
    const status = statusOf(err.code);
    if (status >= 500 && status !== 503) return problem(status, err.code, 'internal error');
    const errors = (err.detail?.errors as FieldError[] | undefined) ?? (err.field !== undefined ? [{ path: err.field, message: err.message }] : undefined);
    return problem(status, err.code, err.message, errors);
  }
  const e = err as { code?: string; statusCode?: number; message?: string } | null;
  const known = e?.code ? FASTIFY[e.code] : undefined;
  if (known) return problem(known[0], known[1], e?.message ?? 'bad request');
  // JSON.parse errors and secure-json-parse (prototype poisoning) come as 400s without our codes.
  if (err instanceof SyntaxError || (e?.statusCode === 400 && /JSON|__proto__|constructor/i.test(e.message ?? ''))) {
    return problem(400, HttpCode.MalformedJson, 'request body is not valid JSON');
  }
  if (e?.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return problem(e.statusCode, HttpCode.BadRequest, e.message ?? 'bad request');
  }
  return problem(500, HttpCode.Internal, 'internal error');
}
