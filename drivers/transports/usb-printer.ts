// USB printer-class transport (bInterfaceClass 7) over the `usb` package's
// WebUSB-style API: bulk OUT for ESC/POS, bulk IN for status replies. The
// device lookup and disconnect notifications are injected (UsbPrinterBinding)
// so the transfer logic is tested against a fake device; production uses
// webUsbPrinterBinding(). On Linux the kernel's usblp driver owns printer
// interfaces: we detach it on claim (that is also why the udev rules give the
// tillbox group the raw device).
import { TransportBase, TransportError, TransportErrorCode, toBuffer, type TransportContext } from './transport.ts';

/** The slice of WebUSB's USBDevice this transport uses (node-usb's UsbDevice has it). */
export interface UsbDeviceLike {
  readonly vendorId: number;
  readonly productId: number;
  readonly serialNumber?: string | undefined;
  readonly configuration:
    | { interfaces: { interfaceNumber: number; alternate: { interfaceClass: number; endpoints: { endpointNumber: number; direction: 'in' | 'out'; type: string; packetSize: number }[] } }[] }
    | null
    | undefined;
  open(): Promise<void>;
  close(): Promise<void>;
  selectConfiguration?(n: number): Promise<void>;
  claimInterface(n: number): Promise<void>;
  releaseInterface(n: number): Promise<void>;
  detachKernelDriver?(n: number): Promise<void>;
  transferOut(ep: number, data: Uint8Array): Promise<{ status: string; bytesWritten: number }>;
  transferIn(ep: number, length: number): Promise<{ status: string; data?: DataView | undefined }>;
}

export interface UsbPrinterBinding {
  find(filter: { vendorId: number; productId: number; serialNumber?: string }): Promise<UsbDeviceLike | undefined>;
  /** Calls back when `device` is unplugged; returns an unsubscribe function. */
  onDisconnect(device: UsbDeviceLike, cb: () => void): () => void;
}

/** Production binding over node-usb's WebUSB object (loaded lazily: no libusb, no crash). */
export async function webUsbPrinterBinding(): Promise<UsbPrinterBinding> {
  const { usb } = await import('usb');
  return {
    async find(f) {
      const devices = (await usb.getDevices()) as unknown as UsbDeviceLike[];
      return devices.find((d) => d.vendorId === f.vendorId && d.productId === f.productId && (f.serialNumber === undefined || d.serialNumber === f.serialNumber));
    },
    onDisconnect(device, cb) {
      const listener = (ev: Event) => {
        if ((ev as unknown as { device: unknown }).device === device) cb();
      };
      usb.addEventListener('disconnect', listener);
      return () => usb.removeEventListener('disconnect', listener);
    },
  };
}

/**
 * webUsbPrinterBinding() loaded on first use: a devices process whose config
 * has no usb:// printer never loads libusb, and a box without libusb gets a
 * clear open error for that printer instead of a failed start.
 */
export function lazyWebUsbPrinterBinding(): UsbPrinterBinding {
  let loaded: Promise<UsbPrinterBinding> | undefined;
  let binding: UsbPrinterBinding | undefined;
  return {
    async find(f) {
      loaded ??= webUsbPrinterBinding();
      try {
        binding = await loaded;
      } catch (err) {
        loaded = undefined;
        throw new Error(`USB unavailable (libusb-1.0 missing?): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      return binding.find(f);
    },
    onDisconnect(device, cb) {
      // Only called after find() returned a device, so the binding is loaded.
      return binding ? binding.onDisconnect(device, cb) : () => {};
    },
  };
}

export interface UsbPrinterTransportOptions {
  vendorId: number;
  productId: number;
  serialNumber?: string;
  binding: UsbPrinterBinding;
  uri?: string;
}

const PRINTER_CLASS = 7;

export class UsbPrinterTransport extends TransportBase {
  readonly kind = 'usb' as const;
  readonly #o: UsbPrinterTransportOptions;
  #dev: UsbDeviceLike | undefined;
  #iface = -1;
  #out = -1;
  #in = -1;
  #inSize = 64;
  #unsubscribe: (() => void) | undefined;
  #closing = false;

  constructor(opts: UsbPrinterTransportOptions, ctx: TransportContext = {}) {
    const hex = (n: number) => n.toString(16).padStart(4, '0');
    // The form parseUri reads back: usb://vid:pid/SERIAL (serial percent-encoded).
    super(opts.uri ?? `usb://${hex(opts.vendorId)}:${hex(opts.productId)}${opts.serialNumber ? `/${encodeURIComponent(opts.serialNumber)}` : ''}`, ctx);
    this.#o = opts;
  }

  async open(): Promise<void> {
    if (this.isOpen) return;
    const { vendorId, productId, serialNumber } = this.#o;
    const dev = await this.#o.binding.find(serialNumber === undefined ? { vendorId, productId } : { vendorId, productId, serialNumber });
    if (!dev) throw new TransportError(TransportErrorCode.OpenFailed, `${this.uri}: no such USB device`);
    try {
      await dev.open();
      if (!dev.configuration && dev.selectConfiguration) await dev.selectConfiguration(1);
      const iface = dev.configuration?.interfaces.find((i) => i.alternate.interfaceClass === PRINTER_CLASS);
      if (!iface) throw new Error('no printer-class interface');
      const out = iface.alternate.endpoints.find((e) => e.direction === 'out' && e.type === 'bulk');
      const inp = iface.alternate.endpoints.find((e) => e.direction === 'in' && e.type === 'bulk');
      if (!out) throw new Error('no bulk OUT endpoint');
      await dev.detachKernelDriver?.(iface.interfaceNumber).catch(() => {}); // not attached is fine
      await dev.claimInterface(iface.interfaceNumber);
      this.#iface = iface.interfaceNumber;
      this.#out = out.endpointNumber;
      this.#in = inp?.endpointNumber ?? -1;
      this.#inSize = inp?.packetSize ?? 64;
    } catch (err) {
      await dev.close().catch(() => {});
      throw new TransportError(TransportErrorCode.OpenFailed, `${this.uri}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    this.#dev = dev;
    this.#closing = false;
    this.#unsubscribe = this.#o.binding.onDisconnect(dev, () => this.#lost(new Error('USB device unplugged')));
    this.markOpen();
    if (this.#in >= 0) void this.#readLoop(dev);
  }

  async #readLoop(dev: UsbDeviceLike): Promise<void> {
    while (this.isOpen && this.#dev === dev) {
      try {
        const r = await dev.transferIn(this.#in, this.#inSize);
        if (r.data && r.data.byteLength > 0) this.emitData(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength));
        else await new Promise((res) => setTimeout(res, 20)); // printers NAK IN when idle; do not spin
      } catch (err) {
        if (!this.#closing) this.#lost(err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
  }

  #lost(error: Error): void {
    const dev = this.#dev;
    this.#dev = undefined;
    this.#unsubscribe?.();
    void dev?.close().catch(() => {});
    this.emitClose({ disconnected: true, error });
  }

  async close(): Promise<void> {
    const dev = this.#dev;
    if (!dev) return;
    this.#closing = true;
    this.#dev = undefined;
    this.#unsubscribe?.();
    await dev.releaseInterface(this.#iface).catch(() => {});
    await dev.close().catch(() => {});
    this.emitClose({ disconnected: false });
  }

  async write(data: Uint8Array | string): Promise<void> {
    const dev = this.#dev;
    if (!dev || !this.isOpen) throw new TransportError(TransportErrorCode.NotOpen, `${this.uri} is not open`);
    const buf = toBuffer(data);
    this.logWrite(buf);
    try {
      const r = await dev.transferOut(this.#out, buf);
      if (r.status !== 'ok' || r.bytesWritten !== buf.length) throw new Error(`transfer ${r.status}, ${r.bytesWritten}/${buf.length} bytes`);
    } catch (err) {
      const e = new TransportError(TransportErrorCode.Disconnected, `write to ${this.uri} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      this.#lost(e);
      throw e;
    }
  }
}
