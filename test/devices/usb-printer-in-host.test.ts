// A configured usb:// printer runs in the devices host through the one
// transport factory (UsbPrinterTransport), with the USB binding injected
// through the host context. The USB device is a fake WebUSB printer-class
// device whose bulk endpoints are wired to the ESC/POS printer simulator, so
// the production printer driver, queue and status polling run unchanged.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../appliance/config/index.ts';
import { silentLogger } from '../../appliance/log.ts';
import { DevicesHost } from '../../appliance/devices/host.ts';
import { RecorderBus } from './recorder-bus.ts';
import { SaleSource } from '../../appliance/devices/sales.ts';
import { SimPrinter } from '../../drivers/sim/printer.ts';
import type { UsbDeviceLike, UsbPrinterBinding } from '../../drivers/transports/index.ts';

/** A printer-class USB device (bulk OUT 1 / IN 2) whose wire is a TCP connection to the simulator. */
function usbPrinterOverSim(sim: SimPrinter, serialNumber: string): { binding: UsbPrinterBinding; finds: string[] } {
  const finds: string[] = [];
  let socket: Socket | undefined;
  let inbox: Buffer[] = [];
  const device: UsbDeviceLike = {
    vendorId: 0x04b8,
    productId: 0x0202,
    serialNumber,
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
    async open() {
      const port = Number(new URL(sim.uri.replace('tcp://', 'http://')).port);
      socket = connect({ host: '127.0.0.1', port });
      inbox = [];
      socket.on('data', (d) => inbox.push(d));
      await new Promise<void>((resolve, reject) => socket!.once('connect', resolve).once('error', reject));
    },
    async close() {
      socket?.destroy();
      socket = undefined;
    },
    async claimInterface() {},
    async releaseInterface() {},
    async transferOut(_ep: number, data: Uint8Array) {
      await new Promise<void>((resolve, reject) => socket!.write(Buffer.from(data), (err) => (err ? reject(err) : resolve())));
      return { status: 'ok', bytesWritten: data.length };
    },
    async transferIn() {
      const b = inbox.shift();
      return b ? { status: 'ok', data: new DataView(b.buffer, b.byteOffset, b.byteLength) } : { status: 'ok', data: new DataView(new ArrayBuffer(0)) };
    },
  };
  return {
    finds,
    binding: {
      async find(f) {
        finds.push(`${f.vendorId.toString(16)}:${f.productId.toString(16)}/${f.serialNumber ?? ''}`);
        return f.vendorId === device.vendorId && f.productId === device.productId && (f.serialNumber === undefined || f.serialNumber === serialNumber) ? device : undefined;
      },
      onDisconnect: () => () => {},
    },
  };
}

describe('usb:// printer in the devices host', { timeout: 60_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'tillbox-usbprinter-'));
  const bus = new RecorderBus();
  let sim: SimPrinter;
  let host: DevicesHost;
  let finds: string[];

  beforeAll(async () => {
    sim = await new SimPrinter({ port: 0, columns: 42 }).start();
    const usb = usbPrinterOverSim(sim, 'X5ZQ012345');
    finds = usb.finds;
    host = new DevicesHost({
      config: validateConfig({
        version: 1,
        peripherals: [{ id: 'printer-usb', kind: 'printer', uri: 'usb://04b8:0202/X5ZQ012345', model: 'epson-tm-t88' }],
        devices: { autoPrint: { enabled: false } },
      }),
      bus,
      dataDir: join(root, 'data'),
      sales: new SaleSource({ baseUrl: () => undefined, log: silentLogger() }),
      log: silentLogger(),
      bindings: { usb: usb.binding },
      serialByIdDir: join(root, 'by-id'),
      backoff: { minMs: 20, maxMs: 200 },
    });
    await host.start();
  });

  afterAll(async () => {
    await host?.stop();
    await sim?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('finds the device by vid:pid/serial, comes online, and prints a kitchen ticket on the simulator', async () => {
    await bus.until(() => bus.states.get('printer-usb')?.state === 'online');
    expect(finds[0]).toBe('4b8:202/X5ZQ012345');
    expect(bus.states.get('printer-usb')).toMatchObject({ kind: 'printer', uri: 'usb://04b8:0202/X5ZQ012345' });
    const before = sim.completeReceipts().length;
    const reply = await host.printer('printer-usb')!.print({ ticket: { order: 'A17', lines: [{ name: 'Flat white', qty: 2 }] } }, 'usb-1');
    expect(reply.status).toBe('ok');
    await bus.until(() => bus.events.some((e) => e.id === 'printer-usb' && e.event === 'printed' && e.payload.status === 'printed'));
    expect(sim.completeReceipts().length).toBe(before + 1);
    expect(sim.renderText(sim.completeReceipts().at(-1)!)).toContain('2 X FLAT WHITE');
  });
});
