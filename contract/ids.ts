import { Type } from '@sinclair/typebox';

// Identifiers and their limits, once for the POS API, the journal, the sync
// contract and HQ (issue 9: the POS took 128-character keys, the journal 256,
// HQ batches 200, so an event could be one HQ refused forever).

/** A caller's Idempotency-Key header: 1-128 printable ASCII characters (as payment APIs allow). */
export const IDEMPOTENCY_KEY_MAX = 128;
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;
export const IdempotencyKeyHeader = Type.String({ pattern: '^[\\x21-\\x7e]{1,128}$', description: '1-128 printable ASCII characters' });

/** Who calls (an API token's name, or `loopback`): letters, digits, . _ - (max 64). */
export const CALLER_MAX = 64;
export const CALLER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Idempotency keys are scoped to the authenticated caller, as payment APIs
 * scope them to the account: the same key from another till is another sale,
 * a retry from the same till replays. The journal event's `idempotencyKey` is
 * this scoped form, `{caller}/{key}`, so the journal's index and HQ's
 * UNIQUE (device_id, idempotency_key) both follow the caller.
 */
export const SCOPED_KEY_MAX = CALLER_MAX + 1 + IDEMPOTENCY_KEY_MAX;
export const ScopedIdempotencyKey = Type.String({ minLength: 3, maxLength: SCOPED_KEY_MAX });

export function scopedIdempotencyKey(caller: string, key: string): string {
  if (!CALLER_PATTERN.test(caller)) throw new TypeError(`invalid caller for an idempotency key: ${JSON.stringify(caller)}`);
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) throw new TypeError('invalid idempotency key');
  return `${caller}/${key}`;
}

/** The caller's own key back from a scoped one (the part after the first '/'). */
export function clientIdempotencyKey(scoped: string): string {
  const i = scoped.indexOf('/');
  return i < 0 ? scoped : scoped.slice(i + 1);
}

/** An event's type name (sale, refund, ...). */
export const EVENT_TYPE_MAX = 64;
