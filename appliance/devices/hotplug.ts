// Hotplug, event-driven (issue 4 §6: no polling).
//
// SerialByIdWatcher: udev's stable names under /dev/serial/by-id. The
// directory exists only while at least one serial device is plugged in, so
// the watcher follows it: it watches the nearest existing ancestor until the
// directory appears, then the directory itself, and falls back when it goes.
// fs.watch does not say what changed, so every event triggers a rescan of the
// one directory (readdir + realpath), diffed against what was known; rescans
// are serialized and coalesced, so a storm of events costs a few rescans.
// A symlink whose target is gone (dangling) counts as absent.
//
// Identity of the watched directory: a directory removed and created again
// often gets the SAME inode number back (ext4 reuses it at once), and the old
// inotify watch then follows a deleted directory and never fires again — so
// an unplug after such a cycle went unnoticed and its runner retried forever.
// The directory is therefore identified by inode + birth time, and any event
// on the parent that names the directory (created, removed, renamed) drops
// the directory watch so the next scan watches the directory that is there now.
//
// UsbEventSource: attach/detach of USB devices. Production wraps the `usb`
// package's hotplug events (libusb); tests inject a plain emitter.
import { hex4 } from '../../contract/devices/vendors.ts';
import { EventEmitter } from 'node:events';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../log.ts';

export interface SerialEntry {
  /** by-id name, e.g. usb-Honeywell_Imaging_1900_12345-if00. */
  name: string;
  /** The by-id path (what a driver opens: stable across replug). */
  path: string;
  /** The tty it points at now (/dev/ttyACM0), informational. */
  target: string;
}

export interface SerialByIdEvents {
  attach: [entry: SerialEntry];
  detach: [entry: SerialEntry];
  error: [err: Error];
}

export class SerialByIdWatcher extends EventEmitter<SerialByIdEvents> {
  readonly dir: string;
  readonly #log: Logger | undefined;
  readonly #known = new Map<string, SerialEntry>();
  #dirWatcher: FSWatcher | undefined;
  #dirIdentity: string | undefined;
  #ancestorWatcher: { path: string; w: FSWatcher } | undefined;
  #running = false;
  #scanning: Promise<void> | undefined;
  #dirty = false;

  constructor(dir: string, log?: Logger) {
    super();
    this.dir = dir;
    this.#log = log;
  }

  entries(): SerialEntry[] {
    return [...this.#known.values()];
  }

  /** Starts watching and emits 'attach' for what is there already; resolves after that first scan. */
  async start(): Promise<void> {
    this.#running = true;
    await this.rescan();
  }

  stop(): void {
    this.#running = false;
    this.#dirWatcher?.close();
    this.#dirWatcher = undefined;
    this.#ancestorWatcher?.w.close();
    this.#ancestorWatcher = undefined;
  }

  /** Coalesced: at most one scan runs, and one more follows if events came in meanwhile. */
  rescan(): Promise<void> {
    this.#dirty = true;
    this.#scanning ??= (async () => {
      try {
        while (this.#dirty && this.#running) {
          this.#dirty = false;
          await this.#ensureWatchers();
          await this.#scanOnce();
        }
      } catch (err) {
        this.#log?.warn({ err }, 'serial by-id scan failed');
      } finally {
        this.#scanning = undefined;
      }
    })();
    return this.#scanning;
  }

  #dropDirWatcher(): void {
    this.#dirWatcher?.close();
    this.#dirWatcher = undefined;
    this.#dirIdentity = undefined;
  }

  async #ensureWatchers(): Promise<void> {
    const ino = await dirIdentity(this.dir);
    const exists = ino !== undefined;
    // Removed and created again: the old watch follows a deleted directory and would never fire again.
    if (this.#dirWatcher && this.#dirIdentity !== ino) this.#dropDirWatcher();
    if (exists && !this.#dirWatcher) {
      try {
        const w = watch(this.dir, { persistent: false }, () => void this.rescan());
        w.on('error', () => {
          // The directory was removed under the watcher: fall back to the ancestor.
          w.close();
          if (this.#dirWatcher === w) this.#dirWatcher = undefined;
          void this.rescan();
        });
        this.#dirWatcher = w;
        this.#dirIdentity = ino;
        this.#dirty = true; // scan again: something may have appeared before the watch started
      } catch (err) {
        this.#log?.debug({ err }, 'cannot watch the by-id dir yet');
      }
    }
    // Always watch the nearest existing ancestor too: it sees the directory come and go.
    const anc = await nearestExisting(dirname(this.dir));
    if (anc && this.#ancestorWatcher?.path !== anc) {
      this.#ancestorWatcher?.w.close();
      const isParent = anc === dirname(this.dir);
      const name = basename(this.dir);
      try {
        const w = watch(anc, { persistent: false }, (_event, filename) => {
          // Our directory itself came or went: its old watch (if any) is dead even if the inode number is reused.
          if (isParent && (filename === null || filename.toString() === name)) this.#dropDirWatcher();
          void this.rescan();
        });
        w.on('error', () => {
          w.close();
          if (this.#ancestorWatcher?.w === w) this.#ancestorWatcher = undefined;
          void this.rescan();
        });
        this.#ancestorWatcher = { path: anc, w };
      } catch (err) {
        this.#log?.debug({ err, anc }, 'cannot watch ancestor');
      }
    }
  }

  async #scanOnce(): Promise<void> {
    let names: string[] = [];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
    }
    const now = new Map<string, SerialEntry>();
    for (const name of names) {
      const path = join(this.dir, name);
      try {
        now.set(name, { name, path, target: await realpath(path) });
      } catch {
        // dangling link: the device node is already gone
      }
    }
    for (const [name, old] of this.#known) {
      const cur = now.get(name);
      if (!cur || cur.target !== old.target) {
        this.#known.delete(name);
        this.#emitSafe('detach', old);
      }
    }
    for (const [name, cur] of now) {
      if (!this.#known.has(name)) {
        this.#known.set(name, cur);
        this.#emitSafe('attach', cur);
      }
    }
  }

  #emitSafe(event: 'attach' | 'detach', entry: SerialEntry): void {
    for (const l of this.listeners(event)) {
      try {
        (l as (e: SerialEntry) => void)(entry);
      } catch (err) {
        this.#log?.error({ err, event, name: entry.name }, 'hotplug listener threw');
      }
    }
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** dev:inode:birth time of a directory (inode numbers alone are reused at once), or undefined. */
async function dirIdentity(p: string): Promise<string | undefined> {
  try {
    const st = await stat(p);
    return st.isDirectory() ? `${st.dev}:${st.ino}:${st.birthtimeMs}` : undefined;
  } catch {
    return undefined;
  }
}

async function nearestExisting(p: string): Promise<string | undefined> {
  for (let cur = p; ; cur = dirname(cur)) {
    if (await isDir(cur)) return cur;
    if (dirname(cur) === cur) return undefined;
  }
}

// ------------------------------------------------------------ USB

export interface UsbDeviceInfo {
  vendorId: number;
  productId: number;
  /** bDeviceClass (0 = per interface). */
  deviceClass?: number;
  /** bInterfaceClass of each interface (0x07 printer, 0x03 HID, 0x02/0x0a CDC). */
  interfaceClasses?: number[];
  /** HID usage page of the report descriptor when known (0x8C barcode scanner). */
  usagePage?: number;
  serialNumber?: string;
  manufacturer?: string;
  product?: string;
  /** Bus and port chain, e.g. "1-1.4": stable for a given socket, the fallback identity. */
  location?: string;
}

export interface UsbEventSourceEvents {
  attach: [device: UsbDeviceInfo];
  detach: [device: UsbDeviceInfo];
}

/** What the host needs from USB hotplug; tests pass a plain EventEmitter with list(). */
export interface UsbEventSource {
  list(): UsbDeviceInfo[];
  on<E extends keyof UsbEventSourceEvents>(event: E, listener: (...args: UsbEventSourceEvents[E]) => void): unknown;
  off<E extends keyof UsbEventSourceEvents>(event: E, listener: (...args: UsbEventSourceEvents[E]) => void): unknown;
  close(): void;
}

/** Stable identity of a USB device: serial number when it has one, else its port chain. */
export function usbIdentity(d: UsbDeviceInfo): string {
  const id = `${hex4(d.vendorId)}:${hex4(d.productId)}`;
  return d.serialNumber ? `${id}/${d.serialNumber}` : `${id}@${d.location ?? 'unknown'}`;
}

export { hex4 };

/** An in-memory source for tests and for boxes without libusb. */
export class ManualUsbSource extends EventEmitter<UsbEventSourceEvents> implements UsbEventSource {
  readonly #devices = new Map<string, UsbDeviceInfo>();
  list(): UsbDeviceInfo[] {
    return [...this.#devices.values()];
  }
  plug(d: UsbDeviceInfo): void {
    this.#devices.set(usbIdentity(d), d);
    this.emit('attach', d);
  }
  unplug(d: UsbDeviceInfo): void {
    this.#devices.delete(usbIdentity(d));
    this.emit('detach', d);
  }
  close(): void {
    this.removeAllListeners();
  }
}

/**
 * Production source over the `usb` package. usb 3 exposes a WebUSB-style API
 * (`usb.addEventListener('connect' | 'disconnect')`, `getDevices()`) on top of
 * libusb hotplug. Loaded lazily: a box without libusb-1.0 still runs, with
 * USB discovery reported as unavailable.
 */
export async function createLibusbSource(log: Logger): Promise<UsbEventSource | undefined> {
  // usb 3 rejects unhandled inside addEventListener when the kernel has no USB bus (containers, CI).
  if (!existsSync('/sys/bus/usb/devices')) {
    log.warn('USB hotplug unavailable: no /sys/bus/usb/devices on this machine; configured peripherals still work');
    return undefined;
  }
  let mod: typeof import('usb');
  try {
    mod = await import('usb');
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'USB hotplug unavailable (libusb-1.0 missing?); configured peripherals still work');
    return undefined;
  }
  const { usb } = mod;
  type Dev = Awaited<ReturnType<typeof usb.getDevices>>[number];
  const info = (d: Dev): UsbDeviceInfo => {
    const out: UsbDeviceInfo = { vendorId: d.vendorId, productId: d.productId, deviceClass: d.deviceClass, location: `${d.bus}-${(d.ports ?? []).join('.')}` };
    if (d.serialNumber) out.serialNumber = d.serialNumber;
    if (d.manufacturerName) out.manufacturer = d.manufacturerName;
    if (d.productName) out.product = d.productName;
    try {
      out.interfaceClasses = (d.configuration?.interfaces ?? []).map((i: { alternate: { interfaceClass: number } }) => i.alternate.interfaceClass);
    } catch {
      // descriptors not readable: class from the device descriptor only
    }
    return out;
  };
  const emitter = new ManualUsbSource();
  const onConnect = (ev: Event) => emitter.plug(info((ev as unknown as { device: Dev }).device));
  const onDisconnect = (ev: Event) => emitter.unplug(info((ev as unknown as { device: Dev }).device));
  usb.addEventListener('connect', onConnect);
  usb.addEventListener('disconnect', onDisconnect);
  try {
    for (const d of await usb.getDevices()) emitter.plug(info(d));
  } catch (err) {
    log.warn({ err }, 'listing USB devices failed');
  }
  return {
    list: () => emitter.list(),
    on: (e, l) => emitter.on(e, l as never),
    off: (e, l) => emitter.off(e, l as never),
    close: () => {
      usb.removeEventListener('connect', onConnect);
      usb.removeEventListener('disconnect', onDisconnect);
      emitter.close();
    },
  };
}
