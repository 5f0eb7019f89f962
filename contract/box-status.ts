import { Type, type Static } from '@sinclair/typebox';
import { IDENTITY_STATES } from './enrolment.ts';

// What core says about the box itself, retained on store/{storeId}/box/status
// (kiosks and flows subscribe to store/{storeId}/box/#) and the body of a
// /healthz 503. `selling: false` means new sales are refused right now; every
// reason says why in words a store installer can act on.

export const HealthReason = Type.Object(
  {
    /** Error code from contract/errors.ts, e.g. TB_DISK_FULL. */
    code: Type.String(),
    message: Type.String(),
    /** ISO time the condition began. */
    since: Type.String(),
  },
  { additionalProperties: false },
);
export type HealthReason = Static<typeof HealthReason>;

export const BoxStatus = Type.Object(
  {
    v: Type.Literal(1),
    deviceId: Type.String(),
    storeId: Type.String(),
    /** ok: selling and nothing to report; degraded: selling with warnings; refusing: no new sales. */
    state: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('refusing')]),
    selling: Type.Boolean(),
    /** Why sales are refused (empty while selling). */
    reasons: Type.Array(HealthReason),
    /** Problems that do not stop selling (quarantined journal records, a reopened store). */
    warnings: Type.Array(HealthReason),
    storage: Type.Object(
      {
        state: Type.Union([Type.Literal('ok'), Type.Literal('full')]),
        freeMB: Type.Number(),
        totalMB: Type.Number(),
        minFreeMB: Type.Number(),
        reserveHeld: Type.Boolean(),
        fullEpisodes: Type.Integer(),
      },
      { additionalProperties: false },
    ),
    journal: Type.Object(
      {
        state: Type.String(),
        lastSeq: Type.Integer(),
        failedBatches: Type.Integer(),
        reopens: Type.Integer(),
        /** From the last integrity scan (null until it ran). */
        quarantined: Type.Union([Type.Integer(), Type.Null()]),
        gaps: Type.Union([Type.Integer(), Type.Null()]),
      },
      { additionalProperties: false },
    ),
    broker: Type.Object(
      {
        storeRecovering: Type.Boolean(),
        failedBatches: Type.Integer(),
        reopens: Type.Integer(),
      },
      { additionalProperties: false },
    ),
    publisher: Type.Object({ cursor: Type.Integer(), failures: Type.Integer() }, { additionalProperties: false }),
    /** The box's certificate (provisioning/): its state, and the pairing code while it waits for approval. */
    identity: Type.Optional(
      Type.Object(
        {
          state: Type.Union(IDENTITY_STATES.map((s) => Type.Literal(s))),
          pairingCode: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    at: Type.String(),
  },
  { additionalProperties: false },
);
export type BoxStatus = Static<typeof BoxStatus>;
