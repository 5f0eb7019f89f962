// Which driver a discovered device gets, as data (STYLE.md item 14): each
// entry is composed from small matchers instead of a class per model. First
// match wins, so specific entries (a vendor's known product ids) come before
// generic ones (any printer-class device).
//
// USB-serial bridges (FTDI, Prolific, CH340, CP210x, CDC-ACM) say nothing
// about what is behind them: they are matched by their /dev/serial/by-id name
// (which carries the USB manufacturer/product strings) or need a config entry
// with `protocol`. Their USB events are only noted; the tty appears under
// by-id and that is where they bind.
import type { PeripheralKind } from '../../contract/devices.ts';
import { MODELS } from '../../drivers/printer/models.ts';
import { VENDORS as vendorIds } from '../../contract/devices/vendors.ts';
import { hex4, type UsbDeviceInfo } from './hotplug.ts';

export interface DeviceMatch {
  kind: PeripheralKind | 'serial-bridge';
  /** Driver protocol: escpos, hid-pos, keyboard, serial (scanner lines), sics, cas ... */
  protocol: string;
  vendor?: string;
  model?: string;
  /** Extra settings for the driver (printer model id, scanner mode, serial line). */
  options?: Record<string, unknown>;
}

export interface Candidate {
  usb?: UsbDeviceInfo;
  /** /dev/serial/by-id name. */
  byId?: string;
}

type Matcher = (c: Candidate) => boolean;

export interface TableEntry {
  name: string;
  matchers: Matcher[];
  result: DeviceMatch;
}

// ------------------------------------------------------------ matchers

export const usbId =
  (vendorId: number, ...productIds: number[]): Matcher =>
  (c) =>
    c.usb !== undefined && c.usb.vendorId === vendorId && (productIds.length === 0 || productIds.includes(c.usb.productId));
export const usbVendor =
  (...vendorIds: number[]): Matcher =>
  (c) =>
    c.usb !== undefined && vendorIds.includes(c.usb.vendorId);
export const usbClass =
  (cls: number): Matcher =>
  (c) =>
    c.usb !== undefined && (c.usb.deviceClass === cls || (c.usb.interfaceClasses ?? []).includes(cls));
export const hidUsagePage =
  (page: number): Matcher =>
  (c) =>
    c.usb?.usagePage === page;
export const byIdName =
  (re: RegExp): Matcher =>
  (c) =>
    c.byId !== undefined && re.test(c.byId);

export const USB_CLASS = { CDC: 0x02, HID: 0x03, PRINTER: 0x07, CDC_DATA: 0x0a } as const;
export const HID_USAGE_PAGE_POS = 0x8c;

export function entry(name: string, result: DeviceMatch, ...matchers: Matcher[]): TableEntry {
  if (matchers.length === 0) throw new Error(`device table entry ${name} matches nothing`);
  return { name, matchers, result };
}

const printer = (model: string, vendor?: string): DeviceMatch => ({ kind: 'printer', protocol: 'escpos', model, ...(vendor ? { vendor } : {}), options: { model } });
const hidScanner = (vendor: string): DeviceMatch => ({ kind: 'scanner', protocol: 'hid-pos', vendor, options: { mode: 'hid-pos' } });
const serialScanner = (vendor: string): DeviceMatch => ({ kind: 'scanner', protocol: 'serial', vendor, options: { mode: 'serial' } });
const serialScale = (vendor: string, protocol: string): DeviceMatch => ({ kind: 'scale', protocol, vendor });
const bridge = (vendor: string): DeviceMatch => ({ kind: 'serial-bridge', protocol: 'serial', vendor });

/** Vendor ids, from the one vendor table the udev rules are generated from (contract/devices/vendors.ts). */
const VENDORS = vendorIds as Readonly<Record<'epson' | 'star' | 'bixolon' | 'citizen' | 'honeywell' | 'zebraSymbol' | 'datalogic' | 'newland' | 'ftdi' | 'prolific' | 'ch340' | 'siliconLabs', number>>;
export { VENDORS };

// ------------------------------------------------------------ the table

export const DEVICE_TABLE: readonly TableEntry[] = [
  // Printers with a model entry of their own (drivers/printer/models.ts carries their USB ids).
  ...Object.values(MODELS).flatMap((m) =>
    m.usb.map((u) => entry(`${m.vendor} ${m.name}`, printer(m.id, m.vendor), u.productId === undefined ? usbVendor(u.vendorId) : usbId(u.vendorId, u.productId), usbClass(USB_CLASS.PRINTER))),
  ),
  entry('Epson receipt printer', printer('generic-80', 'Epson'), usbVendor(VENDORS.epson), usbClass(USB_CLASS.PRINTER)),
  entry('Star receipt printer (ESC/POS mode)', printer('generic-80', 'Star'), usbVendor(VENDORS.star), usbClass(USB_CLASS.PRINTER)),
  entry('Bixolon receipt printer', printer('generic-80', 'Bixolon'), usbVendor(VENDORS.bixolon), usbClass(USB_CLASS.PRINTER)),
  entry('Citizen receipt printer', printer('generic-80', 'Citizen'), usbVendor(VENDORS.citizen), usbClass(USB_CLASS.PRINTER)),
  entry('USB printer class (ESC/POS assumed)', printer('generic-80'), usbClass(USB_CLASS.PRINTER)),
  // Scanners in HID POS mode (usage page 0x8C), by vendor then by usage page alone.
  entry('Honeywell scanner (HID POS)', hidScanner('Honeywell'), usbVendor(VENDORS.honeywell), usbClass(USB_CLASS.HID)),
  entry('Zebra/Symbol scanner (HID POS)', hidScanner('Zebra'), usbVendor(VENDORS.zebraSymbol), usbClass(USB_CLASS.HID)),
  entry('Datalogic scanner (HID POS)', hidScanner('Datalogic'), usbVendor(VENDORS.datalogic), usbClass(USB_CLASS.HID)),
  entry('Newland scanner (HID POS)', hidScanner('Newland'), usbVendor(VENDORS.newland), usbClass(USB_CLASS.HID)),
  entry('HID POS scanner', hidScanner('unknown'), hidUsagePage(HID_USAGE_PAGE_POS)),
  // Scanners and scales in serial / CDC-ACM mode, by their by-id name.
  entry('Honeywell scanner (serial)', serialScanner('Honeywell'), byIdName(/Honeywell|Hand_Held|Metrologic/i)),
  entry('Zebra/Symbol scanner (serial)', serialScanner('Zebra'), byIdName(/Zebra|Symbol/i)),
  entry('Datalogic scanner (serial)', serialScanner('Datalogic'), byIdName(/Datalogic/i)),
  entry('Newland scanner (serial)', serialScanner('Newland'), byIdName(/Newland/i)),
  entry('Mettler Toledo scale (MT-SICS)', serialScale('Mettler Toledo', 'sics'), byIdName(/Mettler|METTLER/i)),
  entry('CAS scale', serialScale('CAS', 'cas'), byIdName(/(^|[-_])CAS[-_]/)),
  entry('Avery/NCI scale', serialScale('Avery', 'nci'), byIdName(/Avery|NCI/i)),
  // Bare USB-serial bridges: known, but what is behind them needs config.
  entry('FTDI USB-serial', bridge('FTDI'), usbVendor(VENDORS.ftdi)),
  entry('Prolific USB-serial', bridge('Prolific'), usbVendor(VENDORS.prolific)),
  entry('CH340 USB-serial', bridge('WCH'), usbVendor(VENDORS.ch340)),
  entry('CP210x USB-serial', bridge('Silicon Labs'), usbVendor(VENDORS.siliconLabs)),
  entry('CDC-ACM device', bridge('unknown'), usbClass(USB_CLASS.CDC)),
];

export function lookup(c: Candidate, table: readonly TableEntry[] = DEVICE_TABLE): (DeviceMatch & { entry: string }) | undefined {
  for (const e of table) if (e.matchers.every((m) => m(c))) return { ...e.result, entry: e.name };
  return undefined;
}

/** A URI for a discovered USB device: usb://vid:pid[/serial] (printers), hid://... (scanners). */
export function usbUri(d: UsbDeviceInfo, scheme: 'usb' | 'hid'): string {
  const base = `${scheme}://${hex4(d.vendorId)}:${hex4(d.productId)}`;
  return d.serialNumber ? `${base}/${encodeURIComponent(d.serialNumber)}` : base;
}

/**
 * A peripheral id from a stable identity: kind + a slug of the by-id name or
 * the USB serial / port chain. Same device, same id, whatever port order.
 */
export function discoveredId(kind: string, identity: string): string {
  const slug = identity
    .replace(/^usb-/, '')
    .replace(/-if\d+(-port\d+)?$/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^[-._]+|[-._]+$/g, '')
    .toLowerCase();
  const id = `${kind}-${slug || 'device'}`;
  if (id.length <= 64) return id;
  let h = 0;
  for (const ch of identity) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `${id.slice(0, 55)}-${h.toString(16).padStart(8, '0')}`;
}
