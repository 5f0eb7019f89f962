import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { EnrolErrorCode, TillboxError } from './errors.ts';

// Certificate provisioning, the facts both sides share: the EST paths (RFC
// 7030), the identity states a box reports, the pairing code, the token
// format and the time limits. The box side is provisioning/, HQ's cloud/est/.

/** RFC 7030 §3.2.2: the well-known EST path prefix, and the operations tillbox uses. */
export const EST_PREFIX = '/.well-known/est';
export const EST_PATH = {
  cacerts: `${EST_PREFIX}/cacerts`,
  simpleenroll: `${EST_PREFIX}/simpleenroll`,
  simplereenroll: `${EST_PREFIX}/simplereenroll`,
} as const;
/** RFC 7030 §4.1.3 / §4.2.3: base64 PKCS#7 certs-only; the CSR goes as base64 PKCS#10. */
export const EST_CERTS_TYPE = 'application/pkcs7-mime; smime-type=certs-only';
export const EST_CSR_TYPE = 'application/pkcs10';

export const IDENTITY_STATES = ['unenrolled', 'pending', 'enrolled', 'expiring', 'expired', 'revoked'] as const;
export type IdentityState = (typeof IDENTITY_STATES)[number];

/** A certificate is renewed (simplereenroll) once this fraction of its lifetime has passed. */
export const RENEW_AT_FRACTION = 2 / 3;
/** Box and HQ clocks may differ by this much; beyond it enrolment stops with TB_ENROL_CLOCK_SKEW. */
export const CLOCK_SKEW_MAX_MS = 5 * 60_000;
/** How long HQ asks a box with an unapproved pairing code to wait before asking again (Retry-After). */
export const PAIRING_RETRY_AFTER_S = 10;
/** Bounds of the wait a box accepts from Retry-After (a hostile or broken HQ cannot stall or flood). */
export const RETRY_AFTER_MIN_S = 1;
export const RETRY_AFTER_MAX_S = 3600;
/** Codes waiting for approval that HQ keeps (a flood of unauthenticated requests cannot grow it; oldest out). */
export const PENDING_PAIRINGS_MAX = 500;
/** A CSR or certificate body larger than this is refused by both sides. */
export const EST_BODY_MAX = 64 * 1024;
/** Default lifetime of an enrolment token. */
export const TOKEN_TTL_DEFAULT_S = 24 * 3600;

/**
 * A device id HQ will certify: the general id pattern without dots (a dotted
 * id would make a certificate name like a host: `mqtt.example.com`) and not
 * `localhost`. It becomes the certificate's CN, the MQTT username on the cloud
 * broker (use_identity_as_username) and the SAN `<id>.local`.
 */
export const ENROL_DEVICE_ID_PATTERN = /^(?!localhost$)[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** One-time enrolment token: `tbx_` + 32 base64url characters (192 bits). */
export const TOKEN_PATTERN = /^tbx_[A-Za-z0-9_-]{32}$/;
/**
 * HTTP Basic password a box sends to simpleenroll: the token, or
 * `pairing:<code>` when it enrols by pairing code (username: its device id).
 */
export const PAIRING_PASSWORD_PREFIX = 'pairing:';

// Crockford base32 without I, L, O, U: easy to read aloud and to type.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const PAIRING_CODE_PATTERN = /^[0-9A-HJKMNP-TV-Z]{3}-[0-9A-HJKMNP-TV-Z]{3}$/;

/**
 * The pairing code of a key: 30 bits of SHA-256 over its SubjectPublicKeyInfo,
 * as `7KQ-4MZ`. Derived from the key, so HQ checks that the CSR it is asked to
 * sign belongs to the code the operator approved.
 */
export function pairingCode(spkiDer: Uint8Array): string {
  const h = createHash('sha256').update(spkiDer).digest();
  let bits = (h[0]! << 22) | (h[1]! << 14) | (h[2]! << 6) | (h[3]! >> 2);
  let out = '';
  for (let i = 0; i < 6; i++) {
    out = CROCKFORD[bits & 31] + out;
    bits >>>= 5;
  }
  return `${out.slice(0, 3)}-${out.slice(3)}`;
}

/** Normalises a typed pairing code (lower case, O for 0, I/L for 1, no dash) to `XXX-XXX`, or undefined. */
export function normalisePairingCode(input: string): string | undefined {
  const c = input.toUpperCase().replaceAll('O', '0').replace(/[IL]/g, '1').replace(/[\s-]/g, '');
  const code = `${c.slice(0, 3)}-${c.slice(3)}`;
  return PAIRING_CODE_PATTERN.test(code) ? code : undefined;
}

/** SHA-256 of a certificate's DER, lower-case hex without separators (how fingerprints are compared). */
export function certFingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Accepts `AB:CD:...`, `abcd...`, or `sha256:abcd...`; returns lower-case hex or undefined. */
export function normaliseFingerprint(input: string): string | undefined {
  const hex = input
    .trim()
    .replace(/^sha256[:=]/i, '')
    .replaceAll(':', '')
    .toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** Every provisioning failure, on both sides: an 8xx code, and HQ's Retry-After for Pending. */
export class EnrolError extends TillboxError {
  readonly retryAfterS: number | undefined;
  constructor(code: EnrolErrorCode, message: string, opts: { cause?: unknown; retryAfterS?: number | undefined } = {}) {
    const retryable = code === EnrolErrorCode.Unreachable || code === EnrolErrorCode.Pending;
    super(code, message, { cause: opts.cause, retryable, disconnected: code === EnrolErrorCode.Unreachable });
    this.name = 'EnrolError';
    this.retryAfterS = opts.retryAfterS;
  }
}

const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' });

/** `tillbox identity show --json` and the identity part of the box status. */
export const IdentityStatus = Type.Object({
  deviceId: Id,
  storeId: Type.Union([Id, Type.Null()]),
  state: Type.Union(IDENTITY_STATES.map((s) => Type.Literal(s))),
  subject: Type.Union([Type.String(), Type.Null()]),
  issuer: Type.Union([Type.String(), Type.Null()]),
  serial: Type.Union([Type.String(), Type.Null()]),
  notBefore: Type.Union([Type.String(), Type.Null()]),
  notAfter: Type.Union([Type.String(), Type.Null()]),
  /** SHA-256 of the device certificate. */
  fingerprint: Type.Union([Type.String(), Type.Null()]),
  daysLeft: Type.Union([Type.Number(), Type.Null()]),
  pairingCode: Type.Optional(Type.String()),
  estUrl: Type.Optional(Type.String()),
  /** Why the box is not enrolled or cannot renew (last error), if so. */
  lastError: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), at: Type.String() })),
});
export type IdentityStatus = Static<typeof IdentityStatus>;

/** HQ: POST /api/v1/enrolment-tokens. */
export const TokenRequest = Type.Object(
  {
    storeId: Id,
    deviceId: Type.Optional(Id),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 30 * 86_400 })),
  },
  { additionalProperties: false },
);
export type TokenRequest = Static<typeof TokenRequest>;
export const TokenResponse = Type.Object({ token: Type.String(), storeId: Id, deviceId: Type.Union([Id, Type.Null()]), expiresAt: Type.String(), caFingerprint: Type.String(), estUrl: Type.String() });
export type TokenResponse = Static<typeof TokenResponse>;

/** HQ: POST /api/v1/pairings/{code}/approve. */
export const PairingApproval = Type.Object({ storeId: Id }, { additionalProperties: false });
export type PairingApproval = Static<typeof PairingApproval>;
export const Pairing = Type.Object({
  code: Type.String(),
  deviceId: Id,
  address: Type.String(),
  firstSeenAt: Type.String(),
  lastSeenAt: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('issued')]),
  storeId: Type.Union([Id, Type.Null()]),
});
export type Pairing = Static<typeof Pairing>;
