// URI → Transport, for the devices process. Bindings are passed in (never
// global): production gives autoDetect() from @serialport/bindings-cpp and
// nodeHidBinding(); demo and tests give simulator-backed ones.
import type { BindingInterface } from '@serialport/bindings-cpp';
import type { NetConnectOpts, Socket } from 'node:net';
import { HidTransport, type HidBinding } from './hid.ts';
import { SerialTransport } from './serial.ts';
import { TcpTransport } from './tcp.ts';
import { FileTransport } from './file-device.ts';
import { UsbPrinterTransport, type UsbPrinterBinding } from './usb-printer.ts';
import { TransportError, TransportErrorCode, type Transport, type TransportContext } from './transport.ts';
import { parseUri, type Framing } from './uri.ts';

export * from './transport.ts';
export { parseUri, parseFraming, formatFraming } from './uri.ts';
export type { PeripheralUri, SerialUri, TcpUri, UsbUri, FileUri, Framing } from './uri.ts';
export { SerialTransport, hangupAwareBinding } from './serial.ts';
export { TcpTransport } from './tcp.ts';
export { HidTransport, nodeHidBinding, type HidBinding, type HidDeviceInfo, type HidHandle } from './hid.ts';
export { MockTransport } from './mock.ts';
export { FileTransport } from './file-device.ts';
export { UsbPrinterTransport, webUsbPrinterBinding, lazyWebUsbPrinterBinding, type UsbPrinterBinding, type UsbDeviceLike } from './usb-printer.ts';
export { listSerialById, serialIdentityOf, parseByIdName, type SerialIdentity } from './identity.ts';

export interface TransportBindings {
  serial?: BindingInterface;
  hid?: HidBinding;
  usb?: UsbPrinterBinding;
  connect?: (opts: NetConnectOpts) => Socket;
}

export interface CreateTransportOptions extends TransportContext {
  bindings: TransportBindings;
  /** Override the URI's serial line settings (scale `auto` probing). */
  serialOverride?: { baudRate: number; framing: Framing };
}

export function createTransport(uri: string, opts: CreateTransportOptions): Transport {
  const u = parseUri(uri);
  const ctx: TransportContext = { ...(opts.logger ? { logger: opts.logger } : {}), ...(opts.wireLog ? { wireLog: opts.wireLog } : {}) };
  switch (u.scheme) {
    case 'serial': {
      if (!opts.bindings.serial) throw new TransportError(TransportErrorCode.Unsupported, `no serial binding given for ${uri}`);
      const line = opts.serialOverride ?? { baudRate: u.baudRate, framing: u.framing };
      return new SerialTransport({ path: u.path, ...line, rtscts: u.rtscts, binding: opts.bindings.serial, uri }, ctx);
    }
    case 'tcp':
      return new TcpTransport({ host: u.host, port: u.port, uri, ...(opts.bindings.connect ? { connect: opts.bindings.connect } : {}) }, ctx);
    case 'hid':
      if (!opts.bindings.hid) throw new TransportError(TransportErrorCode.Unsupported, `no HID binding given for ${uri}`);
      return new HidTransport(
        {
          vendorId: u.vendorId,
          productId: u.productId,
          binding: opts.bindings.hid,
          uri,
          ...(u.serialNumber ? { serialNumber: u.serialNumber } : {}),
          ...(u.usagePage !== undefined ? { usagePage: u.usagePage } : {}),
        },
        ctx,
      );
    case 'usb':
      // usb:// is the USB printer class (bulk OUT/IN); HID devices use hid://.
      if (!opts.bindings.usb) throw new TransportError(TransportErrorCode.Unsupported, `no USB binding given for ${uri}`);
      return new UsbPrinterTransport({ vendorId: u.vendorId, productId: u.productId, binding: opts.bindings.usb, uri, ...(u.serialNumber ? { serialNumber: u.serialNumber } : {}) }, ctx);
    case 'file':
      return new FileTransport({ path: u.path, uri }, ctx);
  }
}
