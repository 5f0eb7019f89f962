import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { VariableMeasureLayout } from './devices/scanner.ts';

// POS payloads, v1: requests the tills send, events the journal stores and
// core publishes on store/{storeId}/pos/{eventType}, and what the HTTP API
// answers. One source of truth: every TypeScript type is derived from its
// schema with Static<>, never written twice.
//
// Money rules (all documents):
// - amounts are integers in minor units (cents), never floats;
// - a document carries one `currency` (ISO 4217) that applies to every amount
//   in it; `Money` is the standalone pair for places that need one;
// - prices are tax-inclusive (EU style); tax is extracted per tax class.
//
// Quantities: unit items are sold by `qty` (integer >= 1); items sold by
// weight take `weightGrams` (integer >= 1) and no qty. Mixing them is a 400.
//
// Every object is closed (additionalProperties: false): unknown fields, such
// as a card number sneaking into a tender, are rejected, never stored.

const closed = { additionalProperties: false } as const;

/** Limits that keep every sum a safe integer (see appliance/pos/money.ts). */
export const LIMITS = {
  maxPrice: 10_000_000, // 100,000.00 per unit or per kg
  maxQty: 9_999,
  maxWeightGrams: 100_000, // 100 kg on one line
  maxLines: 200,
  maxTenders: 10,
  maxTenderAmount: 100_000_000, // 1,000,000.00
  maxStockDelta: 1_000_000,
} as const;

export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. EUR' });
export const MinorUnits = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'integer minor units' });
export const Money = Type.Object({ amount: Type.Integer(), currency: Currency }, closed);
export type Money = Static<typeof Money>;

export const Sku = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$' });
/** GTIN-8/12/13/14 (check digit verified by the catalog) or a 4-5 digit PLU for produce. */
export const Barcode = Type.String({ pattern: '^[0-9]{4,14}$' });
export const TaxClassName = Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' });
/** UUID (the journal's UUIDv7 event ids, also sale ids). */
export const EventId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
});
const Reason = Type.String({ minLength: 1, maxLength: 200 });
const Note = Type.String({ maxLength: 500 });
const Price = Type.Integer({ minimum: 0, maximum: LIMITS.maxPrice });
const Qty = Type.Integer({ minimum: 1, maximum: LIMITS.maxQty });
const WeightGrams = Type.Integer({ minimum: 1, maximum: LIMITS.maxWeightGrams });

// ---------------------------------------------------------------- catalog

export const TaxClass = Type.Object(
  {
    name: TaxClassName,
    /** Rate in basis points: 1900 = 19 %. */
    rateBp: Type.Integer({ minimum: 0, maximum: 10_000 }),
  },
  closed,
);
export type TaxClass = Static<typeof TaxClass>;

export const CatalogItem = Type.Object(
  {
    sku: Sku,
    name: Type.String({ minLength: 1, maxLength: 80 }),
    barcodes: Type.Array(Barcode, { maxItems: 10 }),
    /** Tax-inclusive price in minor units: per `unit`, or per kg when soldByWeight. */
    price: Price,
    taxClass: TaxClassName,
    trackStock: Type.Boolean(),
    soldByWeight: Type.Boolean(),
    /** 'ea' for unit items, 'kg' for weighed items (price is per kg). */
    unit: Type.Union([Type.Literal('ea'), Type.Literal('kg')]),
    /** Initial stock (units, or grams when soldByWeight) before journal adjustments. */
    stock: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  },
  closed,
);
export type CatalogItem = Static<typeof CatalogItem>;

export const CatalogData = Type.Object(
  {
    currency: Currency,
    taxClasses: Type.Array(TaxClass, { minItems: 1 }),
    items: Type.Array(CatalogItem),
    /**
     * Variable-measure EAN-13 layouts (prefixes 20-29) the catalog's lookup
     * codes are written for; used by POST /carts/{id}/scan when the box's
     * config (devices.variableMeasure) names none.
     */
    variableMeasure: Type.Optional(Type.Array(VariableMeasureLayout, { maxItems: 10 })),
  },
  closed,
);
export type CatalogData = Static<typeof CatalogData>;

/** One item as GET /api/v1/catalog shows it: current price and stock. */
export const CatalogItemView = Type.Object(
  {
    ...CatalogItem.properties,
    currency: Currency,
    taxRateBp: Type.Integer(),
    /** Current stock (units or grams); absent when the item does not track stock. */
    stock: Type.Optional(Type.Integer()),
    /** True when a local manager override replaced the catalog price. */
    priceOverridden: Type.Boolean(),
  },
  closed,
);
export type CatalogItemView = Static<typeof CatalogItemView>;

// ---------------------------------------------------------------- tenders

export const CashTender = Type.Object({ type: Type.Literal('cash'), amount: Type.Integer({ minimum: 0, maximum: LIMITS.maxTenderAmount }) }, closed);
/**
 * External card terminal: the box only ever learns the amount and the
 * terminal's approval reference. There is no field for a card number, and
 * the closed object refuses one.
 */
export const CardTender = Type.Object(
  {
    type: Type.Literal('card'),
    amount: Type.Integer({ minimum: 1, maximum: LIMITS.maxTenderAmount }),
    approvalRef: Type.String({ pattern: '^[A-Za-z0-9-]{1,32}$' }),
  },
  closed,
);

/**
 * A tender is cash or card, told apart by `type` (ajv discriminator), so a
 * bad card tender reports the card schema's errors, not both branches'.
 */
function discriminated<T extends TSchema[]>(variants: [...T], tags: string[]) {
  const union = Type.Union(variants);
  return Type.Unsafe<Static<typeof union>>({
    type: 'object',
    properties: { type: { type: 'string', enum: tags } },
    required: ['type'],
    discriminator: { propertyName: 'type' },
    oneOf: variants,
  });
}
export const Tender = discriminated([CashTender, CardTender], ['cash', 'card']);
export type Tender = Static<typeof Tender>;

// ---------------------------------------------------------------- requests

/** A sale line: `{ sku, qty }` for unit items, `{ sku, weightGrams }` for weighed items. */
export const SaleLineRequest = Type.Object({ sku: Sku, qty: Type.Optional(Qty), weightGrams: Type.Optional(WeightGrams) }, closed);
export type SaleLineRequest = Static<typeof SaleLineRequest>;

export const SaleRequest = Type.Object(
  {
    lines: Type.Array(SaleLineRequest, { minItems: 1, maxItems: LIMITS.maxLines }),
    tenders: Type.Array(Tender, { minItems: 1, maxItems: LIMITS.maxTenders }),
  },
  closed,
);
export type SaleRequest = Static<typeof SaleRequest>;

/**
 * Refund part of a sale. `line` is the index into the sale's lines; `qty`
 * the units to refund (a weighed line counts as qty 1 and refunds whole).
 * Tenders must add up to the refund total exactly (no change on refunds).
 */
export const RefundLineRequest = Type.Object(
  {
    line: Type.Integer({ minimum: 0, maximum: LIMITS.maxLines - 1 }),
    qty: Qty,
    /** Put the goods back into stock (default true). */
    restock: Type.Optional(Type.Boolean()),
  },
  closed,
);
export const RefundRequest = Type.Object(
  {
    saleId: EventId,
    lines: Type.Array(RefundLineRequest, { minItems: 1, maxItems: LIMITS.maxLines }),
    tenders: Type.Array(Tender, { minItems: 1, maxItems: LIMITS.maxTenders }),
    reason: Reason,
  },
  closed,
);
export type RefundRequest = Static<typeof RefundRequest>;

/** Voids a whole sale: once, and only while no refund exists against it. */
export const VoidRequest = Type.Object({ saleId: EventId, reason: Reason }, closed);
export type VoidRequest = Static<typeof VoidRequest>;

export const InventoryReason = Type.Union([Type.Literal('received'), Type.Literal('count'), Type.Literal('damaged'), Type.Literal('theft'), Type.Literal('other')]);
/** A stock delta (commutative across boxes); grams for weighed items. */
export const InventoryAdjustmentRequest = Type.Object(
  {
    sku: Sku,
    delta: Type.Integer({ minimum: -LIMITS.maxStockDelta, maximum: LIMITS.maxStockDelta, not: { const: 0 } }),
    reason: InventoryReason,
    note: Type.Optional(Note),
  },
  closed,
);
export type InventoryAdjustmentRequest = Static<typeof InventoryAdjustmentRequest>;

/** Manager only: a local price for one sku (per unit, or per kg). */
export const PriceOverrideRequest = Type.Object({ sku: Sku, price: Price, reason: Reason }, closed);
export type PriceOverrideRequest = Static<typeof PriceOverrideRequest>;

export const DrawerReason = Type.Union([Type.Literal('sale'), Type.Literal('no-sale'), Type.Literal('float'), Type.Literal('pickup'), Type.Literal('other')]);
export const DrawerOpenRequest = Type.Object({ reason: DrawerReason, saleId: Type.Optional(EventId), note: Type.Optional(Note) }, closed);
export type DrawerOpenRequest = Static<typeof DrawerOpenRequest>;

// ---------------------------------------------------------------- carts

/**
 * A cart line: like a sale line, or `{ sku, scale: "<peripheral id>" }` for a
 * weighed item whose weight core takes from the latest STABLE reading it heard
 * on store/{s}/devices/{scale}/weight (legal for trade: the kiosk cannot send
 * a weight of its own choosing or one taken in motion).
 */
export const CartLineRequest = Type.Object(
  {
    sku: Sku,
    qty: Type.Optional(Qty),
    weightGrams: Type.Optional(WeightGrams),
    scale: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' })),
  },
  closed,
);
export type CartLineRequest = Static<typeof CartLineRequest>;

/** POST /carts/{id}/scan: a code as read by a scanner (AIM prefix optional) or typed. */
export const CartScanRequest = Type.Object({ code: Type.String({ minLength: 1, maxLength: 512 }) }, closed);
export type CartScanRequest = Static<typeof CartScanRequest>;

/** A line held in a cart: a sale line request, plus what a scan or a scale put there. */
export const CartLine = Type.Object(
  {
    sku: Sku,
    qty: Type.Optional(Qty),
    weightGrams: Type.Optional(WeightGrams),
    /** Price from a price-embedded barcode (minor units): the line amount. */
    embeddedPrice: Type.Optional(MinorUnits),
    /** The code scanned for this line (variable-measure labels carry its price or weight). */
    code: Type.Optional(Type.String({ maxLength: 512 })),
    /** The scale peripheral whose stable reading gave weightGrams. */
    scale: Type.Optional(Type.String()),
  },
  closed,
);
export type CartLine = Static<typeof CartLine>;
export const CartCheckoutRequest = Type.Object({ tenders: Type.Array(Tender, { minItems: 1, maxItems: LIMITS.maxTenders }) }, closed);
export type CartCheckoutRequest = Static<typeof CartCheckoutRequest>;

// ---------------------------------------------------------------- events

/** Event types, each valid as one MQTT topic segment. */
export const PosEventType = {
  Sale: 'sale',
  Refund: 'refund',
  Void: 'void',
  InventoryAdjusted: 'inventory.adjusted',
  PriceOverridden: 'price.overridden',
  DrawerOpened: 'drawer.opened',
} as const;
export type PosEventType = (typeof PosEventType)[keyof typeof PosEventType];
export const POS_EVENT_TYPES: readonly PosEventType[] = Object.values(PosEventType);

export const ActorRole = Type.Union([Type.Literal('till'), Type.Literal('manager')]);
export type ActorRole = Static<typeof ActorRole>;
/** Who asked: the API token's name and role (never the token). */
export const Actor = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }), role: ActorRole }, closed);
export type Actor = Static<typeof Actor>;

export const TaxLine = Type.Object(
  {
    taxClass: TaxClassName,
    rateBp: Type.Integer(),
    /** Tax-inclusive sum of the class's lines. */
    gross: MinorUnits,
    net: MinorUnits,
    tax: MinorUnits,
  },
  closed,
);
export type TaxLine = Static<typeof TaxLine>;

export const SaleLine = Type.Object(
  {
    sku: Sku,
    name: Type.String(),
    /** Units sold; 1 for a weighed line. */
    qty: Type.Integer({ minimum: 1 }),
    weightGrams: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Price per unit, or per kg for a weighed line, as charged (after overrides). */
    unitPrice: MinorUnits,
    unit: Type.Union([Type.Literal('ea'), Type.Literal('kg')]),
    /** Line amount, tax-inclusive. */
    amount: MinorUnits,
    taxClass: TaxClassName,
    taxRateBp: Type.Integer(),
    priceOverridden: Type.Boolean(),
    /** The amount is the price printed in the item's price-embedded (variable-measure) barcode; qty 1, unitPrice = amount. */
    priceEmbedded: Type.Optional(Type.Boolean()),
  },
  closed,
);
export type SaleLine = Static<typeof SaleLine>;

/** The computed totals of a basket (cart quote and the heart of a sale). */
export const Quote = Type.Object(
  {
    currency: Currency,
    lines: Type.Array(SaleLine),
    taxes: Type.Array(TaxLine),
    total: MinorUnits,
    tax: MinorUnits,
    net: MinorUnits,
  },
  closed,
);
export type Quote = Static<typeof Quote>;

export const SalePayload = Type.Object(
  {
    ...Quote.properties,
    tenders: Type.Array(Tender),
    paid: MinorUnits,
    change: MinorUnits,
    by: Actor,
    cartId: Type.Optional(Type.String()),
  },
  closed,
);
export type SalePayload = Static<typeof SalePayload>;

export const RefundLine = Type.Object(
  {
    line: Type.Integer({ minimum: 0 }),
    sku: Sku,
    qty: Type.Integer({ minimum: 1 }),
    amount: MinorUnits,
    taxClass: TaxClassName,
    taxRateBp: Type.Integer(),
    restock: Type.Boolean(),
  },
  closed,
);
export const RefundPayload = Type.Object(
  {
    saleId: EventId,
    currency: Currency,
    lines: Type.Array(RefundLine),
    taxes: Type.Array(TaxLine),
    total: MinorUnits,
    tax: MinorUnits,
    tenders: Type.Array(Tender),
    reason: Reason,
    by: Actor,
  },
  closed,
);
export type RefundPayload = Static<typeof RefundPayload>;

export const VoidPayload = Type.Object({ saleId: EventId, currency: Currency, total: MinorUnits, reason: Reason, by: Actor }, closed);
export type VoidPayload = Static<typeof VoidPayload>;

export const InventoryAdjustedPayload = Type.Object({ sku: Sku, delta: Type.Integer(), reason: InventoryReason, note: Type.Optional(Note), by: Actor }, closed);
export type InventoryAdjustedPayload = Static<typeof InventoryAdjustedPayload>;

export const PriceOverriddenPayload = Type.Object({ sku: Sku, currency: Currency, price: MinorUnits, previousPrice: MinorUnits, reason: Reason, by: Actor }, closed);
export type PriceOverriddenPayload = Static<typeof PriceOverriddenPayload>;

export const DrawerOpenedPayload = Type.Object({ reason: DrawerReason, saleId: Type.Optional(EventId), note: Type.Optional(Note), by: Actor }, closed);
export type DrawerOpenedPayload = Static<typeof DrawerOpenedPayload>;

/** Payload schema per event type: for consumers validating what they receive. */
export const POS_EVENT_PAYLOADS = {
  [PosEventType.Sale]: SalePayload,
  [PosEventType.Refund]: RefundPayload,
  [PosEventType.Void]: VoidPayload,
  [PosEventType.InventoryAdjusted]: InventoryAdjustedPayload,
  [PosEventType.PriceOverridden]: PriceOverriddenPayload,
  [PosEventType.DrawerOpened]: DrawerOpenedPayload,
} as const;

export interface PosPayloadMap {
  sale: SalePayload;
  refund: RefundPayload;
  void: VoidPayload;
  'inventory.adjusted': InventoryAdjustedPayload;
  'price.overridden': PriceOverriddenPayload;
  'drawer.opened': DrawerOpenedPayload;
}

/** Journal metadata echoed on every API answer that wrote (or replayed) an event. */
export const EventMeta = Type.Object({
  id: EventId,
  seq: Type.Integer({ minimum: 1 }),
  hlc: Type.String(),
  type: Type.String(),
  recordedAt: Type.String(),
  idempotencyKey: Type.String(),
});
export type EventMeta = Static<typeof EventMeta>;

// ---------------------------------------------------------------- views

export const SaleState = Type.Object(
  {
    voided: Type.Boolean(),
    voidId: Type.Optional(EventId),
    refundIds: Type.Array(EventId),
    /** Units refunded so far, per sale line index. */
    refundedQty: Type.Array(Type.Integer()),
    refundedTotal: MinorUnits,
  },
  closed,
);
export type SaleState = Static<typeof SaleState>;

/** A sale as the API shows it: the committed event plus its current state. */
export const SaleView = Type.Object({ ...EventMeta.properties, ...SalePayload.properties, state: SaleState });
export type SaleView = Static<typeof SaleView>;

export const CartView = Type.Object({
  id: Type.String(),
  createdAt: Type.String(),
  lines: Type.Array(CartLine),
  quote: Quote,
});
export type CartView = Static<typeof CartView>;
