// Stable peripheral identity (issue 4 §1): from serial numbers and the udev
// /dev/serial/by-id symlinks, never from enumeration order (ttyUSB0 today may
// be ttyUSB1 after a replug). udev's 60-serial.rules names the links
//   usb-<ID_SERIAL>-if<ID_USB_INTERFACE_NUM>[-port<N>]
// where ID_SERIAL = <vendor>_<model>[_<serial>] with spaces as '_'. Vendor
// and model may contain '_', so only the serial (last segment) is reliable;
// `idSerial` (the whole thing) plus the interface is the stable key.
import { readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';

export interface SerialIdentity {
  /** /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0 — use this path in URIs. */
  byIdPath: string;
  /** The device node it points to now (/dev/ttyUSB0): informational only. */
  devicePath: string;
  bus: string;
  /** udev ID_SERIAL, e.g. FTDI_FT232R_USB_UART_A50285BI */
  idSerial: string;
  /** Last '_' segment of ID_SERIAL when it looks like a serial number. */
  serialNumber?: string;
  interfaceNumber?: number;
  /** Stable key for config and topics: idSerial + interface. */
  stableId: string;
}

export function parseByIdName(name: string): Omit<SerialIdentity, 'byIdPath' | 'devicePath'> | undefined {
  const m = /^([a-z0-9]+)-(.+?)(?:-if([0-9a-f]{2}))?(?:-port([0-9]+))?$/i.exec(name);
  if (!m) return undefined;
  const idSerial = m[2]!;
  const last = idSerial.split('_').at(-1);
  const out: Omit<SerialIdentity, 'byIdPath' | 'devicePath'> = {
    bus: m[1]!,
    idSerial,
    stableId: `${idSerial}${m[3] ? `-if${m[3]}` : ''}${m[4] ? `-port${m[4]}` : ''}`,
  };
  // Heuristic: a serial number has a digit and is not the only segment.
  if (last && last !== idSerial && /[0-9]/.test(last)) out.serialNumber = last;
  if (m[3]) out.interfaceNumber = Number.parseInt(m[3], 16);
  return out;
}

/** Every by-id link with its identity; `dir` is injectable for tests. Missing dir = no serial devices. */
export async function listSerialById(dir = '/dev/serial/by-id'): Promise<SerialIdentity[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: SerialIdentity[] = [];
  for (const name of names.sort()) {
    const id = parseByIdName(name);
    if (!id) continue;
    const byIdPath = join(dir, name);
    const devicePath = await realpath(byIdPath).catch(() => undefined);
    if (devicePath) out.push({ ...id, byIdPath, devicePath });
  }
  return out;
}

/** The by-id identity of a device node (/dev/ttyUSB0) or of a by-id path itself. */
export async function serialIdentityOf(path: string, dir = '/dev/serial/by-id'): Promise<SerialIdentity | undefined> {
  const target = await realpath(path).catch(() => path);
  return (await listSerialById(dir)).find((i) => i.devicePath === target || i.byIdPath === path);
}
