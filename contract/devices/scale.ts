import { Type, type Static } from '@sinclair/typebox';

// Payload of store/{storeId}/devices/{peripheralId}/weight (issue 4 §3),
// published on change. Names follow UnifiedPOS Scale (UPOS 1.16 ch. 16:
// ScaleStatus SCAL_SUE_STABLE_WEIGHT, _WEIGHT_UNSTABLE, _WEIGHT_ZERO,
// _WEIGHT_OVERWEIGHT, _WEIGHT_UNDER_ZERO, _NOT_READY).
//
// The weight is exact: `value` is the decimal string the scale sent (its
// resolution, e.g. '0.195'), never a binary float; `grams` is added when the
// value converts to an integer number of grams exactly (kg with ≤ 3 decimals,
// g without decimals). Only a stable, in-range, non-negative reading may go
// into a sale: use sellableWeight() from drivers/scale.

export const WeightUnit = Type.Union([Type.Literal('kg'), Type.Literal('g'), Type.Literal('lb'), Type.Literal('oz')]);
export type WeightUnit = Static<typeof WeightUnit>;

export const ScaleStatus = Type.Union([Type.Literal('stable'), Type.Literal('unstable'), Type.Literal('zero'), Type.Literal('overweight'), Type.Literal('under-zero'), Type.Literal('not-ready')]);
export type ScaleStatus = Static<typeof ScaleStatus>;

export const WeightReading = Type.Object(
  {
    /** Exact decimal as sent by the scale, or null when the scale sent only a status (overload, motion on 8217). */
    value: Type.Union([Type.String({ pattern: '^-?[0-9]+(\\.[0-9]+)?$' }), Type.Null()]),
    unit: WeightUnit,
    /** Integer grams when exact (see above). */
    grams: Type.Optional(Type.Integer()),
    stable: Type.Boolean(),
    overload: Type.Optional(Type.Boolean()),
    underZero: Type.Optional(Type.Boolean()),
    /** The scale reports net weight (a tare is active). */
    net: Type.Optional(Type.Boolean()),
    /** UnifiedPOS-style summary of the flags above. */
    status: ScaleStatus,
    /** Protocol that produced the reading: 'sics', 'toledo8217', 'cas', 'nci'. */
    protocol: Type.String(),
    /** ISO time of the reading. */
    at: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type WeightReading = Static<typeof WeightReading>;

/** Arguments of .../cmd/zero and .../cmd/tare (none today; the envelope comes from contract/devices.ts CommandRequest). */
export const ScaleCommandArgs = Type.Object({}, { additionalProperties: false });
export type ScaleCommandArgs = Static<typeof ScaleCommandArgs>;
