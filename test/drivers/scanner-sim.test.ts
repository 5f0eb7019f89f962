// Scanner scenarios: recorded HID reports through the real HidTransport and
// decoders, and the pty serial scanner through the real SerialTransport.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { autoDetect } from '@serialport/bindings-cpp';
import type { ScanPayload } from '../../contract/devices/scanner.ts';
import { ScannerDriver } from '../../drivers/scanner/scanner.ts';
import { HidPlaybackBinding, loadHidRecording } from '../../drivers/sim/hid-playback.ts';
import { SerialScannerSimulator } from '../../drivers/sim/scanner.ts';
import { HidTransport } from '../../drivers/transports/hid.ts';
import { SerialTransport } from '../../drivers/transports/serial.ts';
import type { TransportClose } from '../../drivers/transports/transport.ts';

vi.setConfig({ testTimeout: 20_000 });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});
const fixture = (name: string): URL => new URL(`../../drivers/sim/fixtures/${name}.hidrec.jsonl`, import.meta.url);
const NOW = new Date('2026-01-15T10:00:00Z');

async function playback(name: string, end: 'idle' | 'unplug' = 'idle') {
  const rec = loadHidRecording(fixture(name));
  const transport = new HidTransport({ ...rec.device, binding: new HidPlaybackBinding(rec, { end }) });
  const driver = new ScannerDriver({ transport, mode: rec.mode, now: () => NOW });
  cleanups.push(() => driver.stop());
  const scans: ScanPayload[] = [];
  driver.on('scan', (s) => scans.push(s));
  const closed = new Promise<TransportClose>((resolve) => driver.once('close', resolve));
  await driver.start();
  return { scans, closed, transport };
}

describe('recorded HID reports through HidTransport (playback binding)', () => {
  it('HID POS EAN-13', async () => {
    const { scans, closed } = await playback('hidpos-ean13', 'unplug');
    expect((await closed).disconnected).toBe(true);
    expect(scans).toMatchObject([{ data: '4006381333931', symbology: 'EAN-13', aim: ']E0', gtin: '04006381333931', source: 'hid-pos' }]);
  });
  it('HID POS GS1-128 over two continued reports', async () => {
    const { scans, closed } = await playback('hidpos-gs1-128', 'unplug');
    await closed;
    expect(scans).toHaveLength(1);
    expect(scans[0]!.symbology).toBe('GS1-128');
    expect(scans[0]!.gs1?.fields).toEqual({ gtin: '09506000134352', netWeightKg: '0.195', expiry: '2026-12-31', batch: 'LOT-2026-ABCDEFGHIJ', serial: 'SERIAL1234567890' });
    expect(scans[0]!.gs1?.errors).toEqual([]);
  });
  it('keyboard wedge EAN-13 (no AIM id: inferred from the check digit)', async () => {
    const { scans, closed } = await playback('keyboard-ean13', 'unplug');
    await closed;
    expect(scans).toMatchObject([{ data: '4006381333931', symbology: 'EAN-13', aim: null, source: 'keyboard' }]);
  });
  it('keyboard wedge GS1-128 with Ctrl+] as GS', async () => {
    const { scans, closed } = await playback('keyboard-gs1-128', 'unplug');
    await closed;
    expect(scans[0]).toMatchObject({ symbology: 'GS1-128', gs1: { fields: { netWeightKg: '0.195', serial: 'SERIAL1234567890' } } });
  });
  it('a missing device is a clear open error', async () => {
    const rec = loadHidRecording(fixture('hidpos-ean13'));
    const t = new HidTransport({ vendorId: 0x1234, productId: 0x5678, binding: new HidPlaybackBinding(rec) });
    await expect(t.open()).rejects.toMatchObject({ code: 'TB_TRANSPORT_OPEN_FAILED', message: expect.stringMatching(/hid:\/\/1234:5678/) });
  });
});

describe('pty serial scanner', () => {
  it('codes with CR LF become scans; unplug is a disconnect', async () => {
    const sim = await SerialScannerSimulator.start();
    cleanups.push(() => sim.close());
    const transport = new SerialTransport({ path: sim.path, baudRate: 9600, binding: autoDetect() });
    const driver = new ScannerDriver({ transport, mode: 'serial', now: () => NOW, parse: { variableMeasure: [{ prefix: '21', item: 5, value: 5, kind: 'price', hasPriceCheckDigit: false }] } });
    cleanups.push(() => driver.stop());
    const scans: ScanPayload[] = [];
    driver.on('scan', (s) => scans.push(s));
    const closed = new Promise<TransportClose>((resolve) => driver.once('close', resolve));
    await driver.start();
    await sim.whenOpened();
    sim.scan(']E04006381333931');
    sim.scan(']E02112345003450');
    sim.scan(']d2\x1d0109506000134352\x1d17261200');
    await new Promise<void>((resolve) => {
      const check = (): void => (scans.length >= 3 ? resolve() : void driver.once('scan', check));
      check();
    });
    expect(scans.map((s) => s.symbology)).toEqual(['EAN-13', 'EAN-13', 'GS1 DataMatrix']);
    expect(scans[1]!.variableMeasure).toMatchObject({ kind: 'price', value: '3.45', minor: 345 });
    expect(scans[2]!.gs1?.fields.expiry).toBe('2026-12-31');
    await sim.unplug();
    expect((await closed).disconnected).toBe(true);
  });
});
