import { EVENT_TYPE_MAX, SCOPED_KEY_MAX } from './ids.ts';
import { Type, type Static } from '@sinclair/typebox';

// The journal event envelope: what the box stores, publishes locally on
// store/{storeId}/pos/{type} and syncs to HQ. The journal's TypeScript type
// (appliance/journal/types.ts) is derived from this schema.

export const JournalEventSchema = Type.Object(
  {
    /** UUIDv7: time-ordered, unique across boxes. */
    id: Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' }),
    deviceId: Type.String({ minLength: 1, maxLength: 64 }),
    storeId: Type.String({ minLength: 1, maxLength: 64 }),
    /** Per-device sequence, starts at 1, gap-free, survives restarts. */
    seq: Type.Integer({ minimum: 1 }),
    /** Hybrid logical clock `<wallMs 15 digits>-<counter 10 digits>-<deviceId>`; string order is causal order. */
    hlc: Type.String({ pattern: '^[0-9]{15}-[0-9]{10}-.+$' }),
    /** One of contract/pos.ts POS_EVENT_TYPES. */
    type: Type.String({ minLength: 1, maxLength: EVENT_TYPE_MAX }),
    payload: Type.Unknown(),
    /** `{caller}/{key}`: the caller's Idempotency-Key scoped to the caller (contract/ids.ts). */
    idempotencyKey: Type.String({ minLength: 1, maxLength: SCOPED_KEY_MAX }),
    /** Wall-clock time at commit (ISO 8601), informational; ordering uses seq/hlc. */
    recordedAt: Type.String(),
  },
  { additionalProperties: false },
);

/** A committed event; `P` narrows the payload (see contract/pos.ts PosPayloadMap). */
export type JournalEvent<P = unknown> = Omit<Static<typeof JournalEventSchema>, 'payload'> & { payload: P };
