// USB vendors of POS peripherals, once: the devices process's table of what a
// plugged-in device is (appliance/devices/device-table.ts) and the image's
// udev rules (image/udev/rules.ts generates 60-tillbox-peripherals.rules) both
// read it. Adding a vendor is one line here (docs/extending.md).

export type VendorKind = 'printer' | 'scanner' | 'scale' | 'serial-bridge';

export interface Vendor {
  /** Key used in code (device-table matchers). */
  key: string;
  name: string;
  vendorId: number;
  kind: VendorKind;
  /** Only these products (a clone vendor id shared with other devices). */
  productIds?: readonly number[];
  /** Also shows up as a hidraw node (HID POS or keyboard-wedge scanners, HID scales). */
  hidraw?: boolean;
  /** Also shows up as a tty (CDC-ACM or a built-in USB-serial bridge). */
  tty?: boolean;
}

export const VENDOR_TABLE: readonly Vendor[] = [
  // Receipt printers: raw USB (libusb)
  { key: 'epson', name: 'Epson', vendorId: 0x04b8, kind: 'printer' },
  { key: 'star', name: 'Star Micronics', vendorId: 0x0519, kind: 'printer' },
  { key: 'bixolon', name: 'Bixolon', vendorId: 0x1504, kind: 'printer' },
  { key: 'citizen', name: 'Citizen', vendorId: 0x1d90, kind: 'printer' },
  { key: 'custom', name: 'Custom', vendorId: 0x0dd4, kind: 'printer' },
  { key: 'snbc', name: 'SNBC', vendorId: 0x154f, kind: 'printer' },
  { key: 'winbondClone', name: 'Xprinter-class (Winbond)', vendorId: 0x0416, kind: 'printer', productIds: [0x5011] },
  { key: 'stmClone', name: 'Xprinter-class (STM)', vendorId: 0x0483, kind: 'printer', productIds: [0x5720] },
  { key: 'gd32Clone', name: 'Xprinter-class (GD32)', vendorId: 0x28e9, kind: 'printer', productIds: [0x0289] },
  // Barcode scanners: HID POS / keyboard wedge, and CDC-ACM serial
  { key: 'honeywell', name: 'Honeywell', vendorId: 0x0c2e, kind: 'scanner', hidraw: true, tty: true },
  { key: 'zebraSymbol', name: 'Zebra/Symbol', vendorId: 0x05e0, kind: 'scanner', hidraw: true, tty: true },
  { key: 'datalogic', name: 'Datalogic', vendorId: 0x05f9, kind: 'scanner', hidraw: true, tty: true },
  { key: 'newland', name: 'Newland', vendorId: 0x1eab, kind: 'scanner', hidraw: true, tty: true },
  { key: 'codeCorp', name: 'Code Corp', vendorId: 0x0536, kind: 'scanner', hidraw: true },
  // USB-serial adapters (scales, serial scanners, serial printers)
  { key: 'ftdi', name: 'FTDI', vendorId: 0x0403, kind: 'serial-bridge', tty: true },
  { key: 'prolific', name: 'Prolific', vendorId: 0x067b, kind: 'serial-bridge', tty: true },
  { key: 'ch340', name: 'WCH CH340/CH341', vendorId: 0x1a86, kind: 'serial-bridge', tty: true },
  { key: 'siliconLabs', name: 'Silicon Labs CP210x', vendorId: 0x10c4, kind: 'serial-bridge', tty: true },
  // Scales with their own USB ids
  { key: 'mettlerToledo', name: 'Mettler Toledo', vendorId: 0x0eb8, kind: 'scale', hidraw: true, tty: true },
];

export const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

/** vendorId by key, for the device table's matchers. */
export const VENDORS: Readonly<Record<string, number>> = Object.fromEntries(VENDOR_TABLE.map((v) => [v.key, v.vendorId]));
