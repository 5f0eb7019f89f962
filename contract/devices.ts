import { Type, type Static, type TSchema } from '@sinclair/typebox';

// Payloads shared by every peripheral on store/{storeId}/devices/{peripheralId}/...
// Kind-specific payloads (scan, weight, printer status) live in contract/devices/*.ts.
// Names follow UnifiedPOS (UPOS 1.16) where it has one.

export const PERIPHERAL_KINDS = ['scanner', 'scale', 'printer', 'drawer', 'gpio'] as const;
export const PeripheralKind = Type.Union(PERIPHERAL_KINDS.map((k) => Type.Literal(k)));
export type PeripheralKind = Static<typeof PeripheralKind>;

/**
 * UnifiedPOS power states (UPOS "PowerState": PS_ONLINE, PS_OFF, PS_OFFLINE,
 * PS_OFF_OFFLINE), written in lower case with dashes, plus 'error' when the
 * driver failed and is being restarted.
 */
export const PowerState = Type.Union([Type.Literal('online'), Type.Literal('off'), Type.Literal('offline'), Type.Literal('off-offline'), Type.Literal('error')]);
export type PowerState = Static<typeof PowerState>;

/** Retained on store/{storeId}/devices/{peripheralId}/state: birth and death of a peripheral. */
export const PeripheralState = Type.Object(
  {
    id: Type.String(),
    kind: PeripheralKind,
    state: PowerState,
    /** Transport URI, e.g. serial:///dev/serial/by-id/usb-...?baud=9600, tcp://10.0.0.5:9100 */
    uri: Type.String(),
    /** Driver/protocol in use, e.g. 'sics', 'escpos', 'hid-pos'. */
    protocol: Type.Optional(Type.String()),
    vendor: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    serialNumber: Type.Optional(Type.String()),
    /** ISO time of the last state change. */
    since: Type.String(),
    /** Human-readable reason for offline / error states. */
    reason: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type PeripheralState = Static<typeof PeripheralState>;

/**
 * Command request on store/{storeId}/devices/{peripheralId}/cmd/{command}.
 * aedes speaks MQTT 3.1.1 only, so the reply topic and correlation id travel
 * in the payload (MQTT 5 response-topic/correlation-data are not available).
 * Replies go to `replyTo` or, by default, to .../cmd/{command}/reply.
 */
export function CommandRequest<T extends TSchema>(args: T) {
  return Type.Object(
    {
      correlation: Type.String({ minLength: 1, maxLength: 128 }),
      replyTo: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
      args,
    },
    { additionalProperties: false },
  );
}

export const CommandError = Type.Object({ code: Type.String(), message: Type.String(), retryable: Type.Optional(Type.Boolean()) }, { additionalProperties: false });

/** Reply envelope `{ status, data, error?, correlation }` (STYLE.md item 8). */
export function CommandReply<T extends TSchema>(data: T) {
  return Type.Object(
    {
      status: Type.Union([Type.Literal('ok'), Type.Literal('error')]),
      correlation: Type.String(),
      data: Type.Optional(data),
      error: Type.Optional(CommandError),
    },
    { additionalProperties: false },
  );
}
