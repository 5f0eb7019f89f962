// HID transport over node-hid with the binding injected (MockBinding style):
// production passes nodeHidBinding() (loads the native addon lazily), tests
// and the demo pass a HidPlaybackBinding (drivers/sim/hid-playback.ts) that
// replays recorded input reports. For HID, one 'data' chunk = one input
// report (report ID first when the device uses numbered reports).
import { TransportBase, TransportError, TransportErrorCode, toBuffer, type TransportContext } from './transport.ts';

export interface HidDeviceInfo {
  vendorId: number;
  productId: number;
  path?: string | undefined;
  serialNumber?: string | undefined;
  manufacturer?: string | undefined;
  product?: string | undefined;
  usagePage?: number | undefined;
  usage?: number | undefined;
  interface?: number | undefined;
}

/** What the transport needs from an open device (a subset of node-hid's HIDAsync). */
export interface HidHandle {
  on(event: 'data', listener: (report: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeAllListeners(): unknown;
  write(data: number[] | Buffer): Promise<number>;
  close(): Promise<void>;
}

export interface HidBinding {
  devices(): Promise<HidDeviceInfo[]>;
  open(path: string): Promise<HidHandle>;
}

/** node-hid, imported on first use so processes that never touch HID never load the addon. */
export function nodeHidBinding(): HidBinding {
  const load = async (): Promise<typeof import('node-hid')> => (await import('node-hid')).default ?? (await import('node-hid'));
  return {
    async devices() {
      return (await load()).devicesAsync();
    },
    async open(path: string) {
      return (await (await load()).HIDAsync.open(path)) as unknown as HidHandle;
    },
  };
}

export interface HidTransportOptions {
  vendorId: number;
  productId: number;
  serialNumber?: string;
  /** Choose the interface with this usage page (0x8C HID POS scanner, 0x01 keyboard). */
  usagePage?: number;
  binding: HidBinding;
  uri?: string;
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

export class HidTransport extends TransportBase {
  readonly kind = 'hid' as const;
  readonly #opts: HidTransportOptions;
  #handle: HidHandle | undefined;
  #closing = false;
  /** The device that was opened (serial number = stable identity). */
  device: HidDeviceInfo | undefined;

  constructor(opts: HidTransportOptions, ctx: TransportContext = {}) {
    super(opts.uri ?? `hid://${hex4(opts.vendorId)}:${hex4(opts.productId)}${opts.serialNumber ? `/${opts.serialNumber}` : ''}`, ctx);
    this.#opts = opts;
  }

  async open(): Promise<void> {
    if (this.isOpen) return;
    const o = this.#opts;
    const all = await o.binding.devices();
    const match = all.find(
      (d) =>
        d.vendorId === o.vendorId &&
        d.productId === o.productId &&
        (o.serialNumber === undefined || d.serialNumber === o.serialNumber) &&
        (o.usagePage === undefined || d.usagePage === o.usagePage) &&
        d.path,
    );
    if (!match?.path) throw new TransportError(TransportErrorCode.OpenFailed, `no HID device ${this.uri} present`);
    let handle: HidHandle;
    try {
      handle = await o.binding.open(match.path);
    } catch (err) {
      throw new TransportError(TransportErrorCode.OpenFailed, `cannot open ${this.uri} (${match.path}): ${(err as Error).message} — check udev permissions`, { cause: err });
    }
    this.#handle = handle;
    this.device = match;
    this.#closing = false;
    handle.on('data', (report) => this.emitData(Buffer.from(report)));
    // node-hid reports an unplug as an 'error' on the read thread.
    handle.on('error', (err) => {
      this.#handle = undefined;
      handle.removeAllListeners();
      void handle.close().catch(() => {});
      this.emitClose({ disconnected: !this.#closing, error: err });
    });
    this.markOpen();
  }

  async close(): Promise<void> {
    const h = this.#handle;
    if (!h) return;
    this.#closing = true;
    this.#handle = undefined;
    h.removeAllListeners();
    await h.close().catch(() => {});
    this.emitClose({ disconnected: false });
  }

  async write(data: Uint8Array | string): Promise<void> {
    const h = this.#handle;
    if (!h) throw new TransportError(TransportErrorCode.NotOpen, `${this.uri} is not open`);
    const buf = toBuffer(data);
    this.logWrite(buf);
    try {
      await h.write(buf);
    } catch (err) {
      throw new TransportError(TransportErrorCode.WriteFailed, `write to ${this.uri} failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
