import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

// serialport re-exports MockBinding as SerialPortMock.binding (the types of @serialport/binding-mock do not resolve under nodenext).
const MockBinding = SerialPortMock.binding;
import { SerialPortMock } from 'serialport';
import { parseUri, parseFraming } from './uri.ts';
import { listSerialById, parseByIdName, serialIdentityOf } from './identity.ts';
import { SerialTransport, encodeWireChars, decodeWireChars } from './serial.ts';
import { TcpTransport } from './tcp.ts';
import type { Transport, TransportClose } from './transport.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

describe('parseUri', () => {
  it('serial with baud and framing', () => {
    expect(parseUri('serial:///dev/ttyUSB0?baud=9600&framing=7E1')).toEqual({
      scheme: 'serial',
      path: '/dev/ttyUSB0',
      baudRate: 9600,
      framing: { dataBits: 7, parity: 'even', stopBits: 1 },
      rtscts: false,
    });
    expect(parseUri('serial:///dev/serial/by-id/usb-FTDI_X_A1-if00-port0')).toMatchObject({ baudRate: 9600, framing: { dataBits: 8, parity: 'none', stopBits: 1 } });
    expect(parseFraming('8N2')).toEqual({ dataBits: 8, parity: 'none', stopBits: 2 });
  });
  it('tcp, usb, hid, file', () => {
    expect(parseUri('tcp://printer.local:9100')).toEqual({ scheme: 'tcp', host: 'printer.local', port: 9100 });
    expect(parseUri('tcp://[::1]:4001')).toEqual({ scheme: 'tcp', host: '::1', port: 4001 });
    expect(parseUri('usb://04b8:0202')).toEqual({ scheme: 'usb', vendorId: 0x04b8, productId: 0x0202 });
    expect(parseUri('hid://0c2e:0b61/ABC123?usagePage=0x8c')).toEqual({ scheme: 'hid', vendorId: 0x0c2e, productId: 0x0b61, serialNumber: 'ABC123', usagePage: 0x8c });
    expect(parseUri('file:///dev/usb/lp0')).toEqual({ scheme: 'file', path: '/dev/usb/lp0' });
  });
  it.each([
    ['serial://dev/ttyUSB0', /three slashes/],
    ['serial:///dev/ttyUSB0?baud=9601', /not a standard rate/],
    ['serial:///dev/ttyUSB0?framing=9N1', /framing/],
    ['serial:///dev/ttyUSB0?speed=9600', /unknown serial option "speed"/],
    ['tcp://printer.local', /port required/],
    ['tcp://h:70000', /out of range/],
    ['usb://4b8:202', /4 hex digits/],
    ['ftp://x', /unknown scheme "ftp"/],
    ['/dev/ttyUSB0', /expected scheme/],
    ['serial:///dev/%zz', /percent-encoding/],
  ])('%s is rejected clearly', (uri, msg) => {
    expect(() => parseUri(uri)).toThrow(msg);
  });
});

describe('stable identity from /dev/serial/by-id', () => {
  it('parses udev names', () => {
    expect(parseByIdName('usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0')).toEqual({
      bus: 'usb',
      idSerial: 'FTDI_FT232R_USB_UART_A50285BI',
      serialNumber: 'A50285BI',
      interfaceNumber: 0,
      stableId: 'FTDI_FT232R_USB_UART_A50285BI-if00-port0',
    });
    expect(parseByIdName('usb-Prolific_Technology_Inc._USB-Serial_Controller-if00-port0')?.serialNumber).toBeUndefined();
  });
  it('maps device nodes to their by-id link, whatever the enumeration order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tillbox-byid-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const byId = join(dir, 'by-id');
    await import('node:fs/promises').then((fs) => fs.mkdir(byId));
    await writeFile(join(dir, 'ttyUSB1'), '');
    await symlink(join(dir, 'ttyUSB1'), join(byId, 'usb-Mettler_Toledo_Scale_SN0042-if00-port0'));
    const all = await listSerialById(byId);
    expect(all).toHaveLength(1);
    expect((await serialIdentityOf(join(dir, 'ttyUSB1'), byId))?.serialNumber).toBe('SN0042');
    expect(await listSerialById(join(dir, 'missing'))).toEqual([]);
  });
});

describe('SerialTransport with MockBinding (injected, not global)', () => {
  it('reads, writes and closes; 7-bit framing puts parity in bit 7', async () => {
    MockBinding.createPort('/dev/ttyMOCK0', { echo: false, record: true });
    cleanups.push(async () => MockBinding.reset());
    const t = new SerialTransport({ path: '/dev/ttyMOCK0', baudRate: 9600, framing: parseFraming('7E1'), binding: MockBinding });
    const got: Buffer[] = [];
    t.on('data', (d) => got.push(d));
    const closed = new Promise<TransportClose>((r) => t.once('close', r));
    await t.open();
    await t.write('W');
    expect(encodeWireChars(Buffer.from('W'), parseFraming('7E1'))).toEqual(Buffer.from([0xd7]));
    expect(decodeWireChars(Buffer.from([0xd7]), parseFraming('7E1'))).toEqual(Buffer.from('W'));
    await t.close();
    expect(await closed).toEqual({ disconnected: false });
    await expect(t.write('x')).rejects.toMatchObject({ code: 'TB_TRANSPORT_NOT_OPEN' });
  });
  it('open failure is a TransportError', async () => {
    const t = new SerialTransport({ path: '/dev/ttyNOPE', baudRate: 9600, binding: MockBinding });
    await expect(t.open()).rejects.toMatchObject({ code: 'TB_TRANSPORT_OPEN_FAILED' });
  });
});

describe('TcpTransport', () => {
  async function server(): Promise<{ port: number; peers: Socket[]; close: () => Promise<void> }> {
    const peers: Socket[] = [];
    const srv = createServer((s) => peers.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    return {
      port,
      peers,
      close: () =>
        new Promise<void>((r) => {
          for (const p of peers) p.destroy();
          srv.close(() => r());
        }),
    };
  }
  it('round-trips bytes; the peer going away is disconnected: true', async () => {
    const s = await server();
    cleanups.push(s.close);
    const t: Transport = new TcpTransport({ host: '127.0.0.1', port: s.port });
    const closed = new Promise<TransportClose>((r) => t.once('close', r));
    const data = new Promise<Buffer>((r) => t.once('data', r));
    await t.open();
    while (s.peers.length === 0) await new Promise((r) => setImmediate(r));
    const echoed = new Promise<Buffer>((r) => s.peers[0]!.once('data', r));
    await t.write(Buffer.from([0x10, 0x04, 0x01]));
    expect(await echoed).toEqual(Buffer.from([0x10, 0x04, 0x01]));
    s.peers[0]!.write(Buffer.from([0x16]));
    expect(await data).toEqual(Buffer.from([0x16]));
    s.peers[0]!.destroy();
    expect((await closed).disconnected).toBe(true);
  });
  it('connection refused is OPEN_FAILED; our close is disconnected: false', async () => {
    const s = await server();
    const port = s.port;
    await s.close();
    await expect(new TcpTransport({ host: '127.0.0.1', port }).open()).rejects.toMatchObject({ code: 'TB_TRANSPORT_OPEN_FAILED' });
    const s2 = await server();
    cleanups.push(s2.close);
    const t = new TcpTransport({ host: '127.0.0.1', port: s2.port });
    const closed = new Promise<TransportClose>((r) => t.once('close', r));
    await t.open();
    await t.close();
    expect(await closed).toEqual({ disconnected: false });
  });
});
