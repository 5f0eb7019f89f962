import { Type, type Static } from '@sinclair/typebox';
import { JournalEventSchema } from './events.ts';
import { CatalogData, CatalogItem, MinorUnits, Sku } from './pos.ts';

// Box <-> HQ through a cloud MQTT broker (topics in contract/topics.ts
// cloudTopics). Version 1. QoS 1 everywhere (AWS IoT Core has no QoS 2), so
// every message may arrive twice or out of order: each has an id and a
// version or seq that makes applying it idempotent.
//
// Exactly-once rule (DESIGN.md "Sync with HQ"):
// - HQ keeps per device `lastAppliedSeq`, the contiguous watermark, updated in
//   the same DB transaction as the effects of the events.
// - BACKLOG lane batches must start at or below lastAppliedSeq + 1: events at
//   or below the watermark are duplicates (skipped); a batch starting above
//   it is a gap, refused with `expectedSeq`.
// - LIVE lane batches (new sales while a backlog drains) may be above the
//   watermark: HQ applies them at once, unique by (deviceId, seq), and reports
//   them in `appliedAbove`; when the backlog reaches them they are skipped as
//   duplicates and the watermark moves past them. So a new sale is not stuck
//   behind hours of backlog, and nothing is applied twice.
// - The box marks an event synced only from an ack (seq <= lastAppliedSeq or
//   listed in appliedAbove), never from a broker PUBACK.

export const SYNC_VERSION = 1;

/** Up: tillbox/v1/{deviceId}/events */
export const EventBatch = Type.Object(
  {
    v: Type.Literal(1),
    deviceId: Type.String({ minLength: 1, maxLength: 64 }),
    storeId: Type.String({ minLength: 1, maxLength: 64 }),
    /** Unique per send (a resend gets a new id); echoed in the ack. */
    batchId: Type.String({ minLength: 1, maxLength: 64 }),
    lane: Type.Union([Type.Literal('backlog'), Type.Literal('live')]),
    /** Ascending seq; contiguous within a backlog batch. */
    events: Type.Array(JournalEventSchema, { minItems: 1, maxItems: 5000 }),
    sentAt: Type.String(),
  },
  { additionalProperties: false },
);
export type EventBatch = Static<typeof EventBatch>;

export const ConflictKind = Type.Union([
  /** A tracked item sold below zero stock; the later sale by HLC is flagged. */
  Type.Literal('oversell'),
  /** A branch price override without HQ authorization, flagged for finance. */
  Type.Literal('unauthorized-price-override'),
  /** Older than the review threshold (72 h default): held for a human, not auto-applied. */
  Type.Literal('stale-event'),
]);
export type ConflictKind = Static<typeof ConflictKind>;

export const ConflictStatus = Type.Union([Type.Literal('open'), Type.Literal('held'), Type.Literal('resolved')]);

export const ConflictResolution = Type.Object(
  {
    /** accept: keep as is / apply the held event; reject: compensate or drop (held events); backorder / substitute: oversell outcomes. */
    decision: Type.Union([Type.Literal('accept'), Type.Literal('reject'), Type.Literal('backorder'), Type.Literal('substitute')]),
    note: Type.Optional(Type.String({ maxLength: 1000 })),
    by: Type.String({ minLength: 1, maxLength: 64 }),
    at: Type.String(),
    substituteSku: Type.Optional(Sku),
  },
  { additionalProperties: false },
);
export type ConflictResolution = Static<typeof ConflictResolution>;

export const ConflictNotice = Type.Object(
  {
    id: Type.String(),
    deviceId: Type.String(),
    storeId: Type.String(),
    seq: Type.Integer({ minimum: 1 }),
    eventId: Type.String(),
    kind: ConflictKind,
    status: ConflictStatus,
    detail: Type.String(),
    sku: Type.Optional(Sku),
    /** Compensating event HQ recorded (e.g. backorder of the oversold qty). */
    compensation: Type.Optional(Type.Object({ type: Type.String(), sku: Type.Optional(Sku), qty: Type.Optional(Type.Integer()) }, { additionalProperties: true })),
    resolution: Type.Optional(ConflictResolution),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);
export type ConflictNotice = Static<typeof ConflictNotice>;

/** Down: tillbox/v1/{deviceId}/acks */
export const SyncAck = Type.Object(
  {
    v: Type.Literal(1),
    deviceId: Type.String(),
    /** The batch this answers (absent for an unsolicited watermark announcement). */
    batchId: Type.Optional(Type.String()),
    result: Type.Union([Type.Literal('applied'), Type.Literal('duplicate'), Type.Literal('gap'), Type.Literal('rejected')]),
    /** HQ's contiguous watermark after this batch. */
    lastAppliedSeq: Type.Integer({ minimum: 0 }),
    /** Seqs above the watermark already applied (live lane). */
    appliedAbove: Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 10000 }),
    /** On 'gap': the seq HQ expects next (= lastAppliedSeq + 1). */
    expectedSeq: Type.Optional(Type.Integer({ minimum: 1 })),
    /** On 'rejected': why (malformed batch, wrong device, schema error). */
    reason: Type.Optional(Type.String()),
    /** Conflicts raised by this batch. */
    conflicts: Type.Array(ConflictNotice),
    at: Type.String(),
  },
  { additionalProperties: false },
);
export type SyncAck = Static<typeof SyncAck>;

/** Down: tillbox/v1/{deviceId}/conflicts — a conflict's later life (its resolution), QoS 1. */
export const ConflictUpdate = Type.Object({ v: Type.Literal(1), conflicts: Type.Array(ConflictNotice, { minItems: 1 }) }, { additionalProperties: false });
export type ConflictUpdate = Static<typeof ConflictUpdate>;

export const CatalogChange = Type.Union([
  Type.Object({ op: Type.Literal('upsert'), item: CatalogItem }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('delete'), sku: Sku }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('price'), sku: Sku, price: MinorUnits }, { additionalProperties: false }),
]);
export type CatalogChange = Static<typeof CatalogChange>;

/**
 * Down: tillbox/v1/{deviceId}/catalog. Versions are consecutive integers per
 * device. A `full` update replaces everything and may jump versions; a
 * `delta` applies only when `baseVersion` equals the box's version: a gap
 * makes the box send a CatalogResyncRequest and wait for a full update.
 */
export const CatalogUpdate = Type.Union([
  Type.Object({ v: Type.Literal(1), kind: Type.Literal('full'), version: Type.Integer({ minimum: 1 }), catalog: CatalogData, publishedAt: Type.String() }, { additionalProperties: false }),
  Type.Object(
    {
      v: Type.Literal(1),
      kind: Type.Literal('delta'),
      version: Type.Integer({ minimum: 2 }),
      baseVersion: Type.Integer({ minimum: 1 }),
      changes: Type.Array(CatalogChange, { minItems: 1, maxItems: 10000 }),
      publishedAt: Type.String(),
    },
    { additionalProperties: false },
  ),
]);
export type CatalogUpdate = Static<typeof CatalogUpdate>;

/** Up: tillbox/v1/{deviceId}/catalog/resync */
export const CatalogResyncRequest = Type.Object(
  { v: Type.Literal(1), deviceId: Type.String(), haveVersion: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]), reason: Type.String() },
  { additionalProperties: false },
);
export type CatalogResyncRequest = Static<typeof CatalogResyncRequest>;

/**
 * Down: tillbox/v1/{deviceId}/cmd/{command}; reply up on .../cmd/{command}/reply.
 * MQTT 5 response-topic / correlation-data are used when the broker speaks 5;
 * the same fields travel in the payload so 3.1.1 brokers work too.
 */
export const CloudCommand = Type.Object(
  {
    correlation: Type.String({ minLength: 1, maxLength: 128 }),
    replyTo: Type.Optional(Type.String()),
    args: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type CloudCommand = Static<typeof CloudCommand>;

/** Up: tillbox/v1/{deviceId}/loss — what a bounded lane dropped, reported on reconnect (never silent). */
export const LossReport = Type.Object(
  {
    v: Type.Literal(1),
    deviceId: Type.String(),
    entries: Type.Array(
      Type.Object(
        { lane: Type.String(), rule: Type.Optional(Type.String()), dropped: Type.Integer({ minimum: 1 }), firstDroppedAt: Type.String(), lastDroppedAt: Type.String() },
        { additionalProperties: false },
      ),
    ),
    at: Type.String(),
  },
  { additionalProperties: false },
);
export type LossReport = Static<typeof LossReport>;

/** Retained on fleet/{deviceId}/status: birth `online`, last will `offline`. */
/**
 * Retained on fleet/{deviceId}/status: `online` at connect (birth), `offline`
 * as the last will or at a clean stop (death). `bdSeq` numbers the box's
 * cloud sessions (it grows with every connection, durably): a death applies
 * only to the session it names or a newer one, so a late will of an old
 * session never marks a newer session offline (Sparkplug B's bdSeq idea).
 */
export const FleetStatus = Type.Object(
  {
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    deviceId: Type.String(),
    storeId: Type.Optional(Type.String()),
    at: Type.String(),
    bdSeq: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type FleetStatus = Static<typeof FleetStatus>;
