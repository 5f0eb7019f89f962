// Printer models as data (STYLE.md item 14): each model is composed from small
// helpers instead of a class per model. A helper contributes one capability;
// definePrinter() merges them over safe defaults.
import type { CodePage, DrawerPin } from './escpos.ts';

export interface PrinterModel {
  id: string;
  vendor: string;
  name: string;
  /** USB vendor/product ids this model answers to (for the hotplug table). */
  usb: { vendorId: number; productId?: number }[];
  /** Characters per line in font A at normal width. */
  columns: number;
  /** Printable width in dots (for barcode width checks). */
  dots: number;
  /** null: no autocutter, feed `feedLines` and let staff tear. */
  cutter: { partial: boolean; feed: number } | null;
  feedLinesBeforeTear: number;
  /** Drawer kick connector: pins wired, and which level of pin 3 means "open". */
  drawer: { pins: DrawerPin[]; openWhen: 'high' | 'low' } | null;
  /** ESC t table numbers of the code pages this model has. */
  codePages: Partial<Record<CodePage, number>>;
  /** Page the renderer prefers (must be in codePages). */
  defaultCodePage: CodePage;
  qr: boolean;
  /** GS ( H process ID response (print-completion acknowledgement). */
  processIdResponse: boolean;
  /** Automatic Status Back (GS a). */
  asb: boolean;
  barcodeModuleWidth: number;
}

export type ModelPart = Partial<PrinterModel>;

const DEFAULTS: Omit<PrinterModel, 'id' | 'vendor' | 'name'> = {
  usb: [],
  columns: 32,
  dots: 384,
  cutter: null,
  feedLinesBeforeTear: 4,
  drawer: null,
  codePages: { cp437: 0 },
  defaultCodePage: 'cp437',
  qr: false,
  processIdResponse: false,
  asb: false,
  barcodeModuleWidth: 2,
};

// ------------------------------------------------------------ helpers

/** Paper width: 80 mm heads print 512 or 576 dots, 58 mm heads 384. Font A is 12 dots wide. */
export const columns = (cols: number, dots = cols * 12): ModelPart => ({ columns: cols, dots });
export const cutter = (opts: { partial?: boolean; feed?: number } = {}): ModelPart => ({ cutter: { partial: opts.partial ?? true, feed: opts.feed ?? 0 } });
export const noCutter = (feedLines = 4): ModelPart => ({ cutter: null, feedLinesBeforeTear: feedLines });
export const drawerPins = (pins: DrawerPin[] = [2, 5], openWhen: 'high' | 'low' = 'high'): ModelPart => ({ drawer: { pins, openWhen } });
export const codePages = (pages: Partial<Record<CodePage, number>>, preferred: CodePage): ModelPart => {
  if (pages[preferred] === undefined) throw new Error(`preferred code page ${preferred} is not in the table`);
  return { codePages: pages, defaultCodePage: preferred };
};
export const qr = (): ModelPart => ({ qr: true });
export const statusBack = (): ModelPart => ({ asb: true });
export const processIdResponse = (): ModelPart => ({ processIdResponse: true });
export const usbIds = (vendorId: number, ...productIds: number[]): ModelPart => ({
  usb: productIds.length === 0 ? [{ vendorId }] : productIds.map((productId) => ({ vendorId, productId })),
});

/** Epson's ESC t numbering (ESC/POS Command Reference, "Character code tables"). */
export const EPSON_CODE_PAGES: Partial<Record<CodePage, number>> = { cp437: 0, cp850: 2, windows1252: 16, cp866: 17, cp852: 18, cp858: 19 };

export function definePrinter(id: string, vendor: string, name: string, ...parts: ModelPart[]): PrinterModel {
  const model: PrinterModel = { ...DEFAULTS, id, vendor, name };
  for (const p of parts) Object.assign(model, p);
  return Object.freeze(model);
}

// ------------------------------------------------------------ the table

const epson80 = [codePages(EPSON_CODE_PAGES, 'cp858'), cutter(), drawerPins(), qr(), statusBack(), processIdResponse()];

export const MODELS = {
  'epson-tm-t88': definePrinter('epson-tm-t88', 'Epson', 'TM-T88V/VI', usbIds(0x04b8, 0x0202), columns(42, 512), ...epson80),
  'epson-tm-t20': definePrinter('epson-tm-t20', 'Epson', 'TM-T20II/III', usbIds(0x04b8, 0x0e15, 0x0e28), columns(48, 576), ...epson80),
  'generic-80': definePrinter('generic-80', 'Generic', 'ESC/POS 80 mm', columns(48, 576), codePages(EPSON_CODE_PAGES, 'cp858'), cutter(), drawerPins([2]), qr()),
  // Typical 58 mm clone: no cutter, no status back, no completion response.
  'generic-58': definePrinter('generic-58', 'Generic', 'ESC/POS 58 mm', columns(32, 384), codePages({ cp437: 0, cp850: 2, cp858: 19 }, 'cp858'), noCutter(4), qr()),
} as const satisfies Record<string, PrinterModel>;

export type PrinterModelId = keyof typeof MODELS;

export function findModel(id: string): PrinterModel | undefined {
  return (MODELS as Record<string, PrinterModel>)[id];
}
