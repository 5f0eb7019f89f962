import { Type, type Static } from '@sinclair/typebox';
import { CommandReply, CommandRequest } from '../devices.ts';

// Cash drawer payloads (UnifiedPOS CashDrawer: DrawerOpened, StatusUpdateEvent
// CASH_SUE_DRAWEROPEN / CASH_SUE_DRAWERCLOSED).

const closed = { additionalProperties: false } as const;

/** Published on .../status of a drawer. */
export const DrawerStatus = Type.Object(
  {
    /** 'unknown' when no sensor is wired (many drawers on a kick connector have none). */
    drawer: Type.Union([Type.Literal('open'), Type.Literal('closed'), Type.Literal('unknown')]),
    /** How it is driven: through a printer's kick connector or a GPIO pin. */
    via: Type.Union([Type.Literal('printer'), Type.Literal('gpio')]),
    at: Type.String(),
  },
  closed,
);
export type DrawerStatus = Static<typeof DrawerStatus>;

/** Arguments of .../cmd/open. Pulse defaults to 100 ms on pin 2. */
export const DrawerOpenArgs = Type.Object(
  {
    pin: Type.Optional(Type.Union([Type.Literal(2), Type.Literal(5)])),
    pulseMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 500 })),
  },
  closed,
);
export type DrawerOpenArgs = Static<typeof DrawerOpenArgs>;
export const DrawerOpenRequest = CommandRequest(DrawerOpenArgs);
export const DrawerOpenReply = CommandReply(Type.Object({ pulsed: Type.Boolean(), drawer: DrawerStatus.properties.drawer }, closed));
export type DrawerOpenReply = Static<typeof DrawerOpenReply>;
