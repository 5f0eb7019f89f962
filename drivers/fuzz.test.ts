// Every parser fuzzed with a seeded PRNG (reproducible: the seed is in the
// test name): random bytes and mutated valid inputs, 10k+ iterations each.
// Properties: no uncaught throw (only the documented error types), returns
// synchronously (no hang), internal buffers stay bounded.
import { describe, expect, it } from 'vitest';
import { parseScan, ScanError, MAX_SCAN_LENGTH } from './scanner/parse-scan.ts';
import { parseGs1, encodeGs1 } from './scanner/gs1.ts';
import { HidPosDecoder, KeyboardWedgeDecoder, LineDecoder, encodeHidPosReports, encodeKeyboardReports } from './scanner/decoders.ts';
import { decodeVariableMeasure } from './scanner/variable-measure.ts';
import { SicsParser } from './scale/sics.ts';
import { Toledo8217Parser } from './scale/toledo8217.ts';
import { CasParser, encodeCasFrame } from './scale/cas.ts';
import { NciParser } from './scale/nci.ts';
import { parseUri } from './transports/uri.ts';
import { isTransportError } from './transports/transport.ts';
import type { FrameParser } from './scale/types.ts';

const SEED = 0x7111b0;
const N = 10_000;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fuzzer(seed: number) {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const bytes = (max: number): Buffer => {
    const b = Buffer.alloc(int(max + 1));
    for (let i = 0; i < b.length; i++) b[i] = int(256);
    return b;
  };
  // Mutate a valid sample: flip, insert, delete, truncate, splice with noise.
  const mutate = (valid: Buffer): Buffer => {
    const b = [...valid];
    const ops = 1 + int(4);
    for (let k = 0; k < ops; k++) {
      const at = int(b.length + 1);
      switch (int(5)) {
        case 0:
          if (b.length) b[at % b.length] = int(256);
          break;
        case 1:
          b.splice(at, 0, int(256));
          break;
        case 2:
          b.splice(at, 1);
          break;
        case 3:
          b.length = at;
          break;
        default:
          b.splice(at, 0, ...bytes(8));
      }
    }
    return Buffer.from(b);
  };
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { rnd, int, bytes, mutate, pick };
}

describe(`fuzz (seed ${SEED.toString(16)}, ${N} iterations per parser)`, () => {
  it('parseScan and parseGs1', () => {
    const f = fuzzer(SEED);
    const samples = [
      ']E04006381333931',
      `]C1${encodeGs1([
        ['01', '09506000134352'],
        ['10', 'AB'],
        ['3103', '000195'],
        ['17', '261231'],
      ])}`,
      ']d2\x1d0109506000134352',
      '(01)09506000134352(17)260200',
      ']E02112345003450',
    ].map((s) => Buffer.from(s, 'latin1'));
    const vm = [{ prefix: '21', item: 5, value: 5, kind: 'price' as const, hasPriceCheckDigit: false }];
    for (let i = 0; i < N; i++) {
      const input = f.rnd() < 0.5 ? f.bytes(80) : f.mutate(f.pick(samples));
      try {
        const r = parseScan(input, { variableMeasure: vm });
        expect(typeof r.data).toBe('string');
      } catch (err) {
        expect(err).toBeInstanceOf(ScanError);
      }
      parseGs1(input.toString('latin1'));
      decodeVariableMeasure(input.toString('latin1'), vm);
    }
    expect(() => parseScan(Buffer.alloc(MAX_SCAN_LENGTH + 1, 0x31))).toThrow(ScanError);
  });

  it('scanner decoders (line, HID POS, keyboard wedge) stay bounded', () => {
    const f = fuzzer(SEED + 1);
    const decoders = [
      new LineDecoder(),
      new LineDecoder({ terminator: '\x03', prefix: '\x02' }),
      new HidPosDecoder(),
      new KeyboardWedgeDecoder({ layout: 'de' }),
      new KeyboardWedgeDecoder({ reportId: 1 }),
    ];
    const hid = encodeHidPosReports(']C1', 'X'.repeat(120));
    const kbd = encodeKeyboardReports('Ab1!');
    for (let i = 0; i < N; i++) {
      for (const d of decoders) {
        const chunk = f.rnd() < 0.5 ? f.bytes(70) : f.mutate(f.pick(d instanceof HidPosDecoder ? hid : d instanceof KeyboardWedgeDecoder ? kbd : [Buffer.from('ABC\r\n')]));
        const out = d.push(chunk);
        expect(Array.isArray(out)).toBe(true);
        expect(d.buffered).toBeLessThanOrEqual(MAX_SCAN_LENGTH + 64);
      }
    }
  });

  it('scale parsers (MT-SICS, Toledo 8217, CAS, NCI) stay bounded', () => {
    const f = fuzzer(SEED + 2);
    const cases: [FrameParser, Buffer[]][] = [
      [new SicsParser({ unit: 'kg' }), [Buffer.from('S S     0.195 kg\r\n'), Buffer.from('Z A\r\nES\r\n')]],
      [new Toledo8217Parser({ unit: 'kg' }), [Buffer.from('\x0201.234\r'), Buffer.from([2, 0x3f, 0x61, 13])]],
      [new CasParser(), [Buffer.concat([Buffer.from([6]), encodeCasFrame('S', ' ', '01.234', 'kg')])]],
      [new NciParser({ unit: 'kg' }), [Buffer.from('\n01.234KG\r\nS\x30\x70\x30\r\x03')]],
    ];
    for (let i = 0; i < N; i++) {
      for (const [p, samples] of cases) {
        const frames = p.push(f.rnd() < 0.5 ? f.bytes(64) : f.mutate(f.pick(samples)));
        for (const fr of frames) expect(['reading', 'reply', 'ack', 'nak', 'error']).toContain(fr.type);
        expect(p.buffered).toBeLessThanOrEqual(256);
      }
    }
  });

  it('parseUri throws only TransportError URI_INVALID', () => {
    const f = fuzzer(SEED + 3);
    const samples = ['serial:///dev/ttyUSB0?baud=9600&framing=7E1', 'tcp://printer.local:9100', 'usb://04b8:0202', 'hid://0c2e:0b61/SER?usagePage=0x8c', 'file:///dev/usb/lp0'];
    for (let i = 0; i < N; i++) {
      const s = f.rnd() < 0.3 ? f.bytes(40).toString('latin1') : f.mutate(Buffer.from(f.pick(samples))).toString('latin1');
      try {
        parseUri(s);
      } catch (err) {
        expect(isTransportError(err, 'TB_TRANSPORT_URI_INVALID')).toBe(true);
      }
    }
  });
});
