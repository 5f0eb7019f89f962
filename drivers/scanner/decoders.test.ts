import { describe, expect, it } from 'vitest';
import { HidPosDecoder, KeyboardWedgeDecoder, LineDecoder, encodeHidPosReports, encodeKeyboardReports, KEY_TAB } from './decoders.ts';
import { ScannerDriver } from './scanner.ts';
import { MockTransport } from '../transports/mock.ts';
import type { ScanPayload } from '../../contract/devices/scanner.ts';

const GS = '\x1d';

describe('LineDecoder (serial / CDC-ACM)', () => {
  it('splits CR, LF and CR LF, across chunk boundaries', () => {
    const d = new LineDecoder();
    expect(d.push(Buffer.from(']E0400638'))).toEqual([]);
    expect(d.push(Buffer.from('1333931\r'))).toEqual([']E04006381333931']);
    expect(d.push(Buffer.from('\nABC\nDEF\r\n'))).toEqual(['ABC', 'DEF']);
  });
  it('custom terminator straddling chunks, and prefix stripping', () => {
    const d = new LineDecoder({ terminator: '\x03', prefix: '\x02' });
    expect(d.push(Buffer.from('\x02AB'))).toEqual([]);
    expect(d.push(Buffer.from('C\x03\x02X\x03'))).toEqual(['ABC', 'X']);
    const e = new LineDecoder({ terminator: '##' });
    expect(e.push(Buffer.from('AB#'))).toEqual([]);
    expect(e.push(Buffer.from('#CD##'))).toEqual(['AB', 'CD']);
  });
  it('drops a line that never ends instead of growing without bound', () => {
    const d = new LineDecoder();
    for (let i = 0; i < 20; i++) d.push(Buffer.alloc(1000, 0x41));
    expect(d.dropped).toBe(1);
    expect(d.push(Buffer.from('tail\nOK\n'))).toEqual(['OK']);
  });
});

describe('HidPosDecoder (HID POS Usage Tables 1.02 §3, page 0x8C)', () => {
  it('one report: AIM from the symbology bytes, data by the length byte', () => {
    const [r] = encodeHidPosReports(']E0', '4006381333931');
    expect(r!.length).toBe(64);
    expect(r!.subarray(0, 5)).toEqual(Buffer.from([0x02, 13, 0x5d, 0x45, 0x30]));
    expect(new HidPosDecoder().push(r!)).toEqual([']E04006381333931']);
  });
  it('joins continued reports (byte 63 bit 0)', () => {
    const data = `0109506000134352${'10'}${'L'.repeat(60)}${GS}21SER`;
    const reports = encodeHidPosReports(']C1', data);
    expect(reports.length).toBe(2);
    expect(reports[0]![63]).toBe(1);
    const d = new HidPosDecoder();
    expect(d.push(reports[0]!)).toEqual([]);
    expect(d.push(reports[1]!)).toEqual([`]C1${data}`]);
  });
  it('ignores other report ids and rejects a length beyond the data field', () => {
    const d = new HidPosDecoder();
    expect(d.push(Buffer.from([0x04, 1, 2, 3]))).toEqual([]);
    const bad = Buffer.alloc(64);
    bad[0] = 2;
    bad[1] = 200;
    expect(d.push(bad)).toEqual([]);
    expect(d.dropped).toBe(1);
  });
});

describe('KeyboardWedgeDecoder (boot keyboard reports, HID 1.11 App. B.1)', () => {
  const type = (d: KeyboardWedgeDecoder, reports: Buffer[]): string[] => reports.flatMap((r) => d.push(r));
  it('US layout with shift, Enter ends a code', () => {
    expect(type(new KeyboardWedgeDecoder(), encodeKeyboardReports('Ab-1!'))).toEqual(['Ab-1!']);
  });
  it('German layout: Y/Z swap, shifted digits, AltGr', () => {
    const d = new KeyboardWedgeDecoder({ layout: 'de' });
    // Usage 0x1D is the key labelled Z on a US board, Y on a German one.
    expect(
      type(d, [
        Buffer.from([0, 0, 0x1d, 0, 0, 0, 0, 0]),
        Buffer.alloc(8),
        Buffer.from([0x02, 0, 0x24, 0, 0, 0, 0, 0]),
        Buffer.alloc(8),
        Buffer.from([0x40, 0, 0x14, 0, 0, 0, 0, 0]),
        Buffer.alloc(8),
        Buffer.from([0, 0, 0x28, 0, 0, 0, 0, 0]),
      ]),
    ).toEqual(['y/@']);
    expect(type(new KeyboardWedgeDecoder({ layout: 'de' }), encodeKeyboardReports('Zürich#1', 'de'))).toEqual(['Zürich#1']);
  });
  it('the same reports read with the wrong layout give different text (why layout is config)', () => {
    expect(type(new KeyboardWedgeDecoder({ layout: 'us' }), encodeKeyboardReports('xyz', 'de'))).toEqual(['xzy']);
  });
  it('Ctrl+] is GS (FNC1 separator) on any layout; held keys do not repeat', () => {
    const d = new KeyboardWedgeDecoder({ layout: 'de' });
    const held = Buffer.from([0, 0, 0x04, 0, 0, 0, 0, 0]);
    expect(type(d, [held, held, Buffer.from([0x01, 0, 0x30, 0, 0, 0, 0, 0]), Buffer.alloc(8), Buffer.from([0, 0, 0x28, 0, 0, 0, 0, 0])])).toEqual([`a${GS}`]);
  });
  it('Tab as configured terminator; unknown layout is a clear error', () => {
    const d = new KeyboardWedgeDecoder({ terminators: [KEY_TAB] });
    expect(type(d, [Buffer.from([0, 0, 0x1e, 0, 0, 0, 0, 0]), Buffer.from([0, 0, KEY_TAB, 0, 0, 0, 0, 0])])).toEqual(['1']);
    expect(() => new KeyboardWedgeDecoder({ layout: 'fr' })).toThrow(/unknown keyboard layout "fr"/);
  });
});

describe('ScannerDriver over a transport', () => {
  it('serial lines become scan payloads; unplug is reported as close{disconnected}', async () => {
    const t = new MockTransport();
    const at = new Date('2025-01-01T00:00:00Z');
    const s = new ScannerDriver({ transport: t, mode: 'serial', now: () => at });
    const scans: ScanPayload[] = [];
    const closes: boolean[] = [];
    s.on('scan', (p) => scans.push(p));
    s.on('close', (i) => closes.push(i.disconnected));
    await s.start();
    t.receive(']E04006381333931\r\n]C0AB');
    t.receive('C\r\n');
    expect(scans.map((p) => [p.symbology, p.data, p.source])).toEqual([
      ['EAN-13', '4006381333931', 'serial'],
      ['Code 128', 'ABC', 'serial'],
    ]);
    t.unplug();
    expect(closes).toEqual([true]);
  });
  it('empty lines and oversized input are errors, not crashes', async () => {
    const t = new MockTransport();
    const s = new ScannerDriver({ transport: t, mode: 'serial' });
    const errors: string[] = [];
    s.on('error', (e) => errors.push(e.message));
    await s.start();
    t.receive('\x00\r\n' + 'Z'.repeat(9000));
    t.receive('\r\n');
    expect(errors.length).toBeGreaterThan(0);
    await s.stop();
    expect(t.listenerCount('data')).toBe(0);
    expect(t.listenerCount('close')).toBe(0);
  });
});
