import { Type, type Static } from '@sinclair/typebox';

// Payload of store/{storeId}/devices/{peripheralId}/scan (issue 4 §2).
// Produced by drivers/scanner/parse-scan.ts parseScan(); the POS calls the
// same function on text it receives from elsewhere (kiosk camera, manual entry).
//
// Exact values only: weights, prices and amounts are decimal strings as
// encoded ('0.195', '12.50'), never binary floats; grams and minor units are
// integers where the encoding allows it exactly.

const Decimal = Type.String({ pattern: '^-?[0-9]+(\\.[0-9]+)?$', description: 'exact decimal as encoded, e.g. "0.195"' });
const IsoDate = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' });

/** One GS1 element string, in scan order. */
export const Gs1Element = Type.Object(
  {
    ai: Type.String({ pattern: '^[0-9]{2,4}$' }),
    /** Short GS1 data title, e.g. 'GTIN', 'BEST BEFORE or BEST BY', 'NET WEIGHT (kg)'. */
    title: Type.String(),
    /** The field exactly as encoded (without AI and separator). */
    raw: Type.String(),
    /** Typed view when the AI has one: ISO date, decimal, count, ... */
    date: Type.Optional(IsoDate),
    decimal: Type.Optional(Decimal),
    unit: Type.Optional(Type.String()),
    count: Type.Optional(Type.Integer({ minimum: 0 })),
    /** ISO 4217 numeric currency for (391n)/(393n). */
    currency: Type.Optional(Type.String({ pattern: '^[0-9]{3}$' })),
  },
  { additionalProperties: false },
);
export type Gs1Element = Static<typeof Gs1Element>;

/**
 * Friendly flat view of the common AIs (all optional). Keys are stable API.
 * netWeightKg etc. are exact decimal strings.
 */
export const Gs1Fields = Type.Object(
  {
    sscc: Type.Optional(Type.String()),
    gtin: Type.Optional(Type.String()),
    contentGtin: Type.Optional(Type.String()),
    batch: Type.Optional(Type.String()),
    serial: Type.Optional(Type.String()),
    productionDate: Type.Optional(IsoDate),
    packagingDate: Type.Optional(IsoDate),
    bestBefore: Type.Optional(IsoDate),
    sellBy: Type.Optional(IsoDate),
    expiry: Type.Optional(IsoDate),
    variant: Type.Optional(Type.String()),
    count: Type.Optional(Type.Integer({ minimum: 0 })),
    variableCount: Type.Optional(Type.Integer({ minimum: 0 })),
    netWeightKg: Type.Optional(Decimal),
    netWeightLb: Type.Optional(Decimal),
    grossWeightKg: Type.Optional(Decimal),
    /** (392n) price in the local currency, (393n) with currency. */
    price: Type.Optional(Decimal),
    priceCurrency: Type.Optional(Type.String()),
    /** (390n)/(391n) amount payable. */
    amount: Type.Optional(Decimal),
    amountCurrency: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type Gs1Fields = Static<typeof Gs1Fields>;

export const Gs1Data = Type.Object(
  {
    elements: Type.Array(Gs1Element),
    fields: Gs1Fields,
    /** Problems found while parsing (bad check digit, invalid date ...). Non-empty = do not trust blindly. */
    errors: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);
export type Gs1Data = Static<typeof Gs1Data>;

/** Variable-measure (restricted circulation) EAN-13, prefixes 20–29, layout from config. */
export const VariableMeasure = Type.Object(
  {
    prefix: Type.String({ pattern: '^2[0-9]$' }),
    /** Item reference digits: catalog key together with the prefix. */
    item: Type.String({ pattern: '^[0-9]+$' }),
    /** The EAN-13 with the value zeroed and the check digit recomputed: how catalogs usually store the item. */
    lookupCode: Type.String({ pattern: '^[0-9]{13}$' }),
    kind: Type.Union([Type.Literal('price'), Type.Literal('weight')]),
    /** Price in currency units ('3.45') or weight in kg ('1.234'), exact. */
    value: Decimal,
    /** Integer form: minor currency units (345) for price, grams (1234) for weight when exact. */
    minor: Type.Optional(Type.Integer({ minimum: 0 })),
    priceCheckDigitValid: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type VariableMeasure = Static<typeof VariableMeasure>;

export const ScanPayload = Type.Object(
  {
    /** Decoded data without the AIM identifier; GS1 FNC1 separators as GS (0x1D). */
    data: Type.String({ maxLength: 8192 }),
    /** Symbology name, e.g. 'EAN-13', 'GS1-128', 'GS1 DataMatrix', 'Code 128'; 'unknown' if not identified. */
    symbology: Type.String(),
    /** AIM symbology identifier (ISO/IEC 15424) like ']E0', or null when the scanner sent none and it was inferred. */
    aim: Type.Union([Type.String({ pattern: '^\\][A-Za-z0-9][0-9A-Za-z]$' }), Type.Null()]),
    /** GTIN-14 for EAN/UPC scans and GS1 (01): the catalog key. */
    gtin: Type.Optional(Type.String({ pattern: '^[0-9]{14}$' })),
    /** EAN/UPC 2- or 5-digit add-on (]E3, or ]E1/]E2 alone). */
    addOn: Type.Optional(Type.String({ pattern: '^[0-9]{2}([0-9]{3})?$' })),
    /** EAN/UPC check digit validity (scanners verify it, keyboard entry does not). */
    checkDigitValid: Type.Optional(Type.Boolean()),
    gs1: Type.Optional(Gs1Data),
    variableMeasure: Type.Optional(VariableMeasure),
    /** ISO time the scan was read. */
    at: Type.Optional(Type.String()),
    /** How the code arrived: 'hid-pos', 'keyboard', 'serial'. */
    source: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type ScanPayload = Static<typeof ScanPayload>;

export const VariableMeasureLayout = Type.Object(
  {
    prefix: Type.String({ pattern: '^2[0-9]$' }),
    /** Digits of item reference after the prefix. */
    item: Type.Integer({ minimum: 1, maximum: 8 }),
    /** Digits of the embedded value. */
    value: Type.Integer({ minimum: 3, maximum: 6 }),
    kind: Type.Union([Type.Literal('price'), Type.Literal('weight')]),
    /** A price/weight check digit precedes the value (GS1 GenSpecs §7.9.3, 4- or 5-digit values). */
    hasPriceCheckDigit: Type.Boolean(),
    /** Decimals of the value: default 2 for price, 3 for weight (kg). */
    decimals: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
  },
  { additionalProperties: false },
);
export type VariableMeasureLayout = Static<typeof VariableMeasureLayout>;
