import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileTransport } from './file-device.ts';
import { isDisconnectError, isTransportError, TransportErrorCode, type TransportClose } from './transport.ts';
import { UsbPrinterTransport, type UsbDeviceLike, type UsbPrinterBinding } from './usb-printer.ts';
import { parseUri } from './uri.ts';

/** A printer-class USB device: bulk OUT 1 records, bulk IN 2 returns queued replies. */
function fakePrinter() {
  const written: Buffer[] = [];
  const replies: Buffer[] = [];
  let unplug: (() => void) | undefined;
  let present = true;
  const calls: string[] = [];
  const dev: UsbDeviceLike = {
    vendorId: 0x04b8,
    productId: 0x0202,
    serialNumber: 'X5Y0001',
    configuration: {
      interfaces: [
        {
          interfaceNumber: 0,
          alternate: {
            interfaceClass: 7,
            endpoints: [
              { endpointNumber: 1, direction: 'out', type: 'bulk', packetSize: 64 },
              { endpointNumber: 2, direction: 'in', type: 'bulk', packetSize: 64 },
            ],
          },
        },
      ],
    },
    open: async () => void calls.push('open'),
    close: async () => void calls.push('close'),
    claimInterface: async (n) => void calls.push(`claim ${n}`),
    releaseInterface: async (n) => void calls.push(`release ${n}`),
    detachKernelDriver: async (n) => void calls.push(`detach ${n}`),
    transferOut: async (_ep, data) => {
      if (!present) throw new Error('LIBUSB_ERROR_NO_DEVICE');
      written.push(Buffer.from(data));
      return { status: 'ok', bytesWritten: data.length };
    },
    transferIn: async () => {
      if (!present) throw new Error('LIBUSB_ERROR_NO_DEVICE');
      const r = replies.shift();
      await new Promise((res) => setImmediate(res));
      return r ? { status: 'ok', data: new DataView(r.buffer, r.byteOffset, r.byteLength) } : { status: 'ok' };
    },
  };
  const binding: UsbPrinterBinding = {
    find: async (f) => (present && f.vendorId === dev.vendorId && f.productId === dev.productId && (f.serialNumber ?? dev.serialNumber) === dev.serialNumber ? dev : undefined),
    onDisconnect: (_d, cb) => ((unplug = cb), () => (unplug = undefined)),
  };
  return { dev, binding, written, replies, calls, unplug: () => ((present = false), unplug?.()) };
}

describe('USB printer-class transport (injected binding)', () => {
  it('claims the printer interface (kernel driver detached), writes bulk OUT, reads bulk IN', async () => {
    const f = fakePrinter();
    const t = new UsbPrinterTransport({ vendorId: 0x04b8, productId: 0x0202, serialNumber: 'X5Y0001', binding: f.binding });
    expect(t.uri).toBe('usb://04b8:0202/X5Y0001');
    expect(parseUri(t.uri)).toEqual({ scheme: 'usb', vendorId: 0x04b8, productId: 0x0202, serialNumber: 'X5Y0001' });
    // Whatever the serial holds, the URI the transport names parses back to it.
    const odd = new UsbPrinterTransport({ vendorId: 0x04b8, productId: 0x0202, serialNumber: 'A/B ?1', binding: f.binding });
    expect(parseUri(odd.uri)).toMatchObject({ serialNumber: 'A/B ?1' });
    expect(() => parseUri('usb://04b8:0202?serial=X5Y0001')).toThrow(/usb:\/\/vid:pid\/SERIAL/);
    const got = new Promise<Buffer>((r) => t.once('data', r));
    await t.open();
    expect(f.calls).toEqual(['open', 'detach 0', 'claim 0']);
    await t.write(Buffer.from([0x10, 0x04, 0x01]));
    f.replies.push(Buffer.from([0x12]));
    expect(await got).toEqual(Buffer.from([0x12]));
    expect(f.written).toEqual([Buffer.from([0x10, 0x04, 0x01])]);
    const closed = new Promise<TransportClose>((r) => t.once('close', r));
    await t.close();
    expect(await closed).toEqual({ disconnected: false });
    expect(f.calls.slice(-2)).toEqual(['release 0', 'close']);
  });
  it('unplug: close fires once with disconnected: true and writes reject as disconnect errors', async () => {
    const f = fakePrinter();
    const t = new UsbPrinterTransport({ vendorId: 0x04b8, productId: 0x0202, binding: f.binding });
    await t.open();
    const closes: TransportClose[] = [];
    t.on('close', (c) => closes.push(c));
    f.unplug();
    await new Promise((r) => setImmediate(r));
    expect(closes).toHaveLength(1);
    expect(closes[0]!.disconnected).toBe(true);
    const err = await t.write('x').catch((e: unknown) => e);
    expect(isTransportError(err, TransportErrorCode.NotOpen)).toBe(true);
    await expect(t.open()).rejects.toSatisfy((e: unknown) => isTransportError(e, TransportErrorCode.OpenFailed));
  });
  it('a failing bulk transfer mid-write is a disconnect', async () => {
    const f = fakePrinter();
    const t = new UsbPrinterTransport({ vendorId: 0x04b8, productId: 0x0202, binding: f.binding });
    await t.open();
    f.dev.transferOut = async () => {
      throw new Error('LIBUSB_ERROR_PIPE');
    };
    expect(isDisconnectError(await t.write('abc').catch((e: unknown) => e))).toBe(true);
    expect(t.isOpen).toBe(false);
  });
});

describe('device-file transport', () => {
  it('writes to the device file; a missing device is OpenFailed; close is idempotent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tillbox-lp-'));
    try {
      const path = join(dir, 'lp0');
      await expect(new FileTransport({ path }).open()).rejects.toSatisfy((e: unknown) => isTransportError(e, TransportErrorCode.OpenFailed));
      const t = new FileTransport({ path, read: false });
      await t.open();
      await t.write(Buffer.from([0x1b, 0x40]));
      await t.write('hello\n');
      await t.close();
      await t.close();
      expect(await readFile(path)).toEqual(Buffer.from('\x1b@hello\n', 'latin1'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
