import { Type, type Static } from '@sinclair/typebox';
import { CommandReply, CommandRequest } from '../devices.ts';

// Printer payloads on store/{storeId}/devices/{peripheralId}/...
// Names follow UnifiedPOS POSPrinter (UPOS 1.16 §"StatusUpdateEvent":
// PTR_SUE_COVER_OPEN, PTR_SUE_REC_EMPTY, PTR_SUE_REC_NEAREMPTY ...), written
// in lower case with dashes as everywhere in the contract.

const closed = { additionalProperties: false } as const;
const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });

/** Receipt paper: UPOS PTR_SUE_REC_PAPEROK / _NEAREMPTY / _EMPTY. */
export const PaperState = Type.Union([Type.Literal('ok'), Type.Literal('near-empty'), Type.Literal('empty')]);
export type PaperState = Static<typeof PaperState>;

/** UnifiedPOS status update names a status can carry (the `conditions` array). */
export const PRINTER_CONDITIONS = [
  'cover-open', // PTR_SUE_COVER_OPEN
  'rec-empty', // PTR_SUE_REC_EMPTY
  'rec-near-empty', // PTR_SUE_REC_NEAREMPTY
  'offline', // PS_OFFLINE
  'cutter-error', // JPOS_EPTR_... autocutter error (extended)
  'unrecoverable-error', // printer needs service
  'auto-recoverable-error', // head overheat etc., clears by itself
  'recoverable-error',
  'drawer-open', // CASH_SUE_DRAWEROPEN (drawer on the printer's kick connector)
] as const;
export const PrinterCondition = Type.Union(PRINTER_CONDITIONS.map((c) => Type.Literal(c)));
export type PrinterCondition = Static<typeof PrinterCondition>;

/** Published on .../status whenever something changes (and retained by the devices process). */
export const PrinterStatus = Type.Object(
  {
    online: Type.Boolean(),
    coverOpen: Type.Boolean(),
    paper: PaperState,
    /** Drawer on the kick connector; absent when the model has no sensor wiring or it is unknown. */
    drawer: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
    /** True when the printer can print now (online, cover closed, paper present, no error). */
    ready: Type.Boolean(),
    conditions: Type.Array(PrinterCondition),
    /** Where the latest bits came from. */
    source: Type.Union([Type.Literal('dle-eot'), Type.Literal('asb'), Type.Literal('transport')]),
    /** Jobs waiting in the persistent queue. */
    queued: Type.Optional(Type.Integer({ minimum: 0 })),
    at: Type.String(),
  },
  closed,
);
export type PrinterStatus = Static<typeof PrinterStatus>;

export const KitchenTicketArgs = Type.Object(
  {
    order: Type.String({ minLength: 1, maxLength: 16 }),
    station: Type.Optional(Type.String({ maxLength: 40 })),
    at: Type.Optional(Type.String({ maxLength: 40 })),
    note: Type.Optional(Type.String({ maxLength: 200 })),
    lines: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 80 }),
          qty: Type.Integer({ minimum: 1, maximum: 999 }),
          group: Type.Optional(Type.String({ maxLength: 40 })),
          notes: Type.Optional(Type.Array(Type.String({ maxLength: 80 }), { maxItems: 10 })),
        },
        closed,
      ),
      { minItems: 1, maxItems: 100 },
    ),
  },
  closed,
);
export type KitchenTicketArgs = Static<typeof KitchenTicketArgs>;

/**
 * Arguments of .../cmd/print: exactly one of a sale's receipt (`reprint`
 * prints a COPY banner), raw ESC/POS bytes (base64, max 256 KiB decoded) or a
 * kitchen ticket. `kickDrawer` opens the drawer after the receipt.
 */
export const PrintArgs = Type.Union([
  Type.Object({ saleId: Uuid, reprint: Type.Optional(Type.Boolean()), kickDrawer: Type.Optional(Type.Boolean()) }, closed),
  Type.Object({ raw: Type.String({ minLength: 1, maxLength: 349_528, contentEncoding: 'base64', pattern: '^[A-Za-z0-9+/]*={0,2}$' }) }, closed),
  Type.Object({ ticket: KitchenTicketArgs }, closed),
]);
export type PrintArgs = Static<typeof PrintArgs>;
export const PrintRequest = CommandRequest(PrintArgs);
export type PrintRequest = Static<typeof PrintRequest>;

/** The reply says the job is durably queued — not that it printed (that is .../printed). */
export const PrintAccepted = Type.Object({ jobId: Type.String(), position: Type.Integer({ minimum: 0 }), duplicate: Type.Boolean() }, closed);
export const PrintReply = CommandReply(PrintAccepted);
export type PrintReply = Static<typeof PrintReply>;

/** Published on .../printed when a job reaches a final state. */
export const PrintResult = Type.Object(
  {
    jobId: Type.String(),
    saleId: Type.Optional(Uuid),
    status: Type.Union([Type.Literal('printed'), Type.Literal('failed')]),
    attempts: Type.Integer({ minimum: 0 }),
    /**
     * True when an earlier attempt may have printed too (all data was sent
     * but the completion answer never came): staff may see two copies.
     */
    possibleDuplicate: Type.Boolean(),
    /** How completion was confirmed: the printer's process-id answer, or status only. */
    confirmedBy: Type.Optional(Type.Union([Type.Literal('process-id'), Type.Literal('status')])),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() }, closed)),
    at: Type.String(),
  },
  closed,
);
export type PrintResult = Static<typeof PrintResult>;
