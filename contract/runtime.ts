import { Type, type Static } from '@sinclair/typebox';

// runtime.json: what a running core actually bound (ports may be 0 in tests),
// written by core at start and read by the devices and flows processes (to
// find the broker), `tillbox doctor`, tests and benchmarks. An interface
// between processes, so its shape lives here and every reader validates it.

export const Listener = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    /** URL scheme clients use: mqtt, mqtts, ws or wss. */
    scheme: Type.Optional(Type.Union([Type.Literal('mqtt'), Type.Literal('mqtts'), Type.Literal('ws'), Type.Literal('wss')])),
  },
  { additionalProperties: false },
);
export type Listener = Static<typeof Listener>;

export const RuntimeInfo = Type.Object(
  {
    pid: Type.Integer({ minimum: 1 }),
    startedAt: Type.String(),
    storeId: Type.String({ minLength: 1 }),
    deviceId: Type.String({ minLength: 1 }),
    http: Type.Object({ host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false }),
    mqtt: Type.Object({ tcp: Type.Optional(Listener), tls: Type.Optional(Listener), ws: Type.Optional(Listener) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type RuntimeInfo = Static<typeof RuntimeInfo>;
