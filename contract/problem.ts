import { Type, type Static } from '@sinclair/typebox';

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
