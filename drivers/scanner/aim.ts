// AIM symbology identifiers, ISO/IEC 15424 (Data Carrier Identifiers): ']'
// + code character + modifier. Scanners prefix decoded data with them when
// configured to; they are the only reliable way to tell a GS1-128 from a plain
// Code 128, or a GS1 DataMatrix from a plain one, because FNC1 in first
// position is not transmitted as a character (ISO/IEC 15417 §5.4.7.5,
// GS1 General Specifications §5.4.6 / §7.8.5).

export interface AimInfo {
  /** ']E0' */
  aim: string;
  /** 'EAN-13' */
  symbology: string;
  /** The data is a GS1 element string (FNC1 in first position). */
  gs1: boolean;
}

// Code character → per-modifier names. A modifier missing here falls back to
// `base` (modifiers often only describe check-character handling).
interface Family {
  base: string;
  modifiers?: Record<string, string>;
  /** Modifiers that mean "FNC1 in first position" = GS1 data. */
  gs1?: readonly string[];
}

const FAMILIES: Record<string, Family> = {
  A: { base: 'Code 39' }, // A0 no check char, A1/A3 check validated, A4/A7 full ASCII
  B: { base: 'Telepen' },
  C: { base: 'Code 128', modifiers: { '1': 'GS1-128' }, gs1: ['1'] }, // C1 FNC1 first = GS1-128, C2 FNC1 second (AIM), C4 ISBT concat
  D: { base: 'Code One' },
  E: { base: 'EAN-13', modifiers: { '1': 'EAN/UPC add-on 2', '2': 'EAN/UPC add-on 5', '3': 'EAN-13 with add-on', '4': 'EAN-8' } },
  F: { base: 'Codabar' },
  G: { base: 'Code 93' },
  H: { base: 'Code 11' },
  I: { base: 'Interleaved 2 of 5' },
  K: { base: 'Code 16K' },
  L: { base: 'PDF417' },
  M: { base: 'MSI' },
  N: { base: 'Anker' },
  O: { base: 'Codablock' },
  P: { base: 'Plessey' },
  Q: { base: 'QR Code', modifiers: { '3': 'GS1 QR Code', '4': 'GS1 QR Code' }, gs1: ['3', '4'] }, // Q3 FNC1 first, Q4 FNC1 first + ECI
  R: { base: 'Straight 2 of 5 (2-bar start/stop)' },
  S: { base: 'Straight 2 of 5 (3-bar start/stop)' },
  X: { base: 'Other' },
  Z: { base: 'Non-barcode' },
  d: { base: 'Data Matrix', modifiers: { '2': 'GS1 DataMatrix', '5': 'GS1 DataMatrix' }, gs1: ['2', '5'] }, // d2 FNC1 first, d5 FNC1 first + ECI
  e: { base: 'GS1 DataBar', gs1: ['0'] }, // e0: every DataBar variant, always GS1 data
  z: { base: 'Aztec Code', modifiers: { '1': 'GS1 Aztec Code', '4': 'GS1 Aztec Code' }, gs1: ['1', '4'] },
  J: { base: 'Han Xin Code' },
  U: { base: 'MaxiCode' },
};

const AIM_RE = /^\][A-Za-z][0-9A-Za-z]/;

/** Split an AIM prefix off decoded data. Returns undefined when there is none. */
export function splitAim(data: string): { aim: string; rest: string } | undefined {
  if (!AIM_RE.test(data)) return undefined;
  return { aim: data.slice(0, 3), rest: data.slice(3) };
}

/** ']E0' → { symbology: 'EAN-13', gs1: false }. Unknown codes are named 'unknown (]x0)', never thrown. */
export function describeAim(aim: string): AimInfo {
  const code = aim[1] ?? '';
  const mod = aim[2] ?? '';
  const fam = FAMILIES[code];
  if (!fam) return { aim, symbology: `unknown (${aim})`, gs1: false };
  return { aim, symbology: fam.modifiers?.[mod] ?? fam.base, gs1: fam.gs1?.includes(mod) ?? false };
}

/** Inverse for simulators and tests: the usual identifier for a symbology name. */
export function aimFor(symbology: string): string | undefined {
  const table: Record<string, string> = {
    'EAN-13': ']E0',
    'UPC-A': ']E0',
    'UPC-E': ']E0',
    'EAN-8': ']E4',
    'Code 128': ']C0',
    'GS1-128': ']C1',
    'Code 39': ']A0',
    'Data Matrix': ']d1',
    'GS1 DataMatrix': ']d2',
    'QR Code': ']Q1',
    'GS1 QR Code': ']Q3',
    'GS1 DataBar': ']e0',
    'Interleaved 2 of 5': ']I0',
    PDF417: ']L0',
  };
  return table[symbology];
}
