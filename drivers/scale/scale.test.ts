import { describe, expect, it } from 'vitest';
import { SicsParser } from './sics.ts';
import { Toledo8217Parser } from './toledo8217.ts';
import { CasParser, encodeCasFrame } from './cas.ts';
import { NciParser } from './nci.ts';
import { isEmptyReading, ScaleDriver, sellableWeight } from './scale.ts';
import { ScaleError, makeReading, normDecimal } from './types.ts';
import { MockTransport } from '../transports/mock.ts';
import { ScaleModel } from '../sim/scale.ts';
import type { WeightReading } from '../../contract/devices/scale.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('MT-SICS (MT-SICS reference manual §2 response format, Level 0 S/SI/Z, Level 1 T)', () => {
  const p = (): SicsParser => new SicsParser({ unit: 'kg' });
  it('"S S     0.195 kg" is a stable reading in exact grams', () => {
    expect(p().push(b('S S     0.195 kg\r\n'))).toEqual([{ type: 'reading', reading: { value: '0.195', unit: 'kg', grams: 195, stable: true, status: 'stable', protocol: 'sics' } }]);
  });
  it('"S D" is dynamic (in motion); "S +" / "S -" over/underload without value', () => {
    const f = p().push(b('S D     0.197 kg\r\nS +\r\nS -\r\n'));
    expect(f.map((x) => x.type === 'reading' && [x.reading.status, x.reading.value])).toEqual([
      ['unstable', '0.197'],
      ['overweight', null],
      ['under-zero', null],
    ]);
  });
  it('replies and errors: Z A, T S <tare>, ES/ET/EL (§2.2)', () => {
    const f = p().push(b('Z A\r\nT S     0.120 kg\r\nES\r\nET\r\nEL\r\n'));
    expect(f.map((x) => x.type)).toEqual(['reply', 'reply', 'error', 'error', 'error']);
    expect(f[2]).toMatchObject({ code: 'ES' });
  });
  it('partial lines across chunks; garbage lines are counted, not fatal', () => {
    const q = p();
    expect(q.push(b('S S   '))).toEqual([]);
    expect(q.push(b('  1.000 g\r\n'))).toHaveLength(1);
    expect(q.push(b('\xd3\xa0\xd3 junk\r\n'))).toEqual([]);
    expect(q.takeGarbage()).toEqual({ bytes: 10, highBit: 3 });
  });
});

describe('Toledo 8217 (demand protocol: STX weight CR, STX ? status CR)', () => {
  it('weight record and status byte bits (0 motion, 1 over capacity, 2 under zero)', () => {
    const p = new Toledo8217Parser({ unit: 'kg' });
    const f = p.push(Buffer.concat([b('\x0201.234\r'), Buffer.from([0x02, 0x3f, 0x61, 0x0d, 0x02, 0x3f, 0x62, 0x0d, 0x02, 0x3f, 0x64, 0x0d])]));
    expect(f[0]).toMatchObject({ type: 'reading', reading: { value: '1.234', grams: 1234, stable: true } });
    expect(f.slice(1).map((x) => x.type === 'reply' && x.reading?.status)).toEqual(['unstable', 'overweight', 'under-zero']);
  });
  it('parity bit in bit 7 (7E1 wire) is masked in the status byte', () => {
    const f = new Toledo8217Parser({ unit: 'kg' }).push(Buffer.from([0x02, 0x3f, 0xe1, 0x0d]));
    expect(f[0]).toMatchObject({ type: 'reply', reading: { stable: false } });
  });
  it('resynchronises on STX after garbage', () => {
    const p = new Toledo8217Parser({ unit: 'lb' });
    expect(p.push(b('xx\x02zz\x0200.50\r'))).toMatchObject([{ reading: { value: '0.50', unit: 'lb' } }]);
  });
});

describe('CAS ECR (ENQ/ACK, DC1 → SOH STX STA SIGN W UN BCC ETX EOT)', () => {
  it('ACK, then a frame whose BCC (XOR STA..UN2) checks', () => {
    const frame = encodeCasFrame('S', ' ', '01.234', 'kg');
    expect(frame.length).toBe(15);
    const f = new CasParser().push(Buffer.concat([Buffer.from([0x06]), frame]));
    expect(f).toEqual([{ type: 'ack' }, { type: 'reading', reading: { value: '1.234', unit: 'kg', grams: 1234, stable: true, status: 'stable', protocol: 'cas' } }]);
  });
  it('a wrong BCC is an error frame; U = unstable; F = overload; - = under zero', () => {
    const bad = encodeCasFrame('S', ' ', '01.234', 'kg');
    bad[12] = bad[12]! ^ 0x01;
    const f = new CasParser().push(Buffer.concat([bad, encodeCasFrame('U', ' ', '00.500', 'kg'), encodeCasFrame('S', 'F', '------', 'kg'), encodeCasFrame('S', '-', '00.005', 'kg')]));
    expect(f.map((x) => (x.type === 'reading' ? x.reading.status : x.type))).toEqual(['error', 'unstable', 'overweight', 'under-zero']);
  });
});

describe('NCI / Avery ECR (LF weight UNIT CR LF S status CR ETX)', () => {
  it('weight with status bytes; motion and over capacity bits', () => {
    const p = new NciParser({ unit: 'kg' });
    const f = p.push(b('\n01.234KG\r\nS\x30\x70\x30\r\x03\n01.230KG\r\nS\x31\x70\x30\r\x03\n^^^^^^KG\r\nS\x30\x72\x30\r\x03'));
    expect(f.map((x) => x.type === 'reading' && [x.reading.value, x.reading.status])).toEqual([
      ['1.234', 'stable'],
      ['1.230', 'unstable'],
      [null, 'overweight'],
    ]);
  });
  it('status-only reply, unknown command "?", net bit in status byte 3', () => {
    const f = new NciParser({ unit: 'lb' }).push(b('\nS\x30\x70\x34\r\x03\n?\r\x03\n0.50LB\r\n\x30\x30\r\x03'));
    expect(f[0]).toMatchObject({ type: 'reply', reading: { net: true } });
    expect(f[1]).toMatchObject({ type: 'error', code: '?' });
    expect(f[2]).toMatchObject({ type: 'reading', reading: { value: '0.50', unit: 'lb' } });
  });
});

describe('readings', () => {
  it('normalises decimals exactly', () => {
    expect(normDecimal('  0.195')).toBe('0.195');
    expect(normDecimal('-01.50')).toBe('-1.50');
    expect(normDecimal('-0.000')).toBe('0.000');
    expect(normDecimal('abc')).toBeUndefined();
  });
  it('grams only when exact', () => {
    expect(makeReading('sics', '0.1955', 'kg', { stable: true }).grams).toBeUndefined();
    expect(makeReading('sics', '1.5', 'lb', { stable: true }).grams).toBeUndefined();
    expect(makeReading('sics', '250', 'g', { stable: true }).grams).toBe(250);
  });
  it('sellableWeight refuses motion, overload, under zero and zero', () => {
    const ok = makeReading('sics', '0.195', 'kg', { stable: true });
    expect(sellableWeight(ok).value).toBe('0.195');
    for (const r of [
      makeReading('sics', '0.195', 'kg', { stable: false }),
      makeReading('sics', null, 'kg', { stable: false, overload: true }),
      makeReading('sics', '-0.005', 'kg', { stable: true }),
      makeReading('sics', '0.000', 'kg', { stable: true }),
    ])
      expect(() => sellableWeight(r)).toThrow(ScaleError);
  });
});

describe('ScaleDriver against the simulator model over a MockTransport (every protocol)', () => {
  for (const protocol of ['sics', 'toledo8217', 'cas', 'nci'] as const) {
    it(`${protocol}: stable → motion → overload, zero where supported`, async () => {
      const model = new ScaleModel({ protocol, grams: 1234 });
      const t = new MockTransport({ respond: (w) => model.receive(w) });
      const d = new ScaleDriver({ transport: t, protocol, pollIntervalMs: 1 });
      const seen: WeightReading[] = [];
      d.on('weight', (r) => seen.push(r));
      await d.start();
      const until = async (pred: () => boolean): Promise<void> => {
        while (!pred()) await new Promise((r) => setTimeout(r, 2));
      };
      await until(() => seen.length >= 1);
      expect(seen[0]).toMatchObject({ grams: 1234, stable: true, protocol });
      model.state = 'motion';
      await until(() => seen.some((r) => !r.stable));
      model.state = 'overload';
      await until(() => seen.some((r) => r.overload === true));
      model.state = 'stable';
      if (d.protocol.supports.zero) {
        await d.zero();
        expect(model.zeroOffset).toBe(1234);
        expect((await d.read()).status).toBe('zero');
      } else {
        await expect(d.zero()).rejects.toMatchObject({ code: 'TB_SCALE_UNSUPPORTED' });
      }
      await d.stop();
    });
  }
});

describe('ScaleDriver polling an empty scale (issue 14: idle CPU)', () => {
  it('slows down after a while at a stable zero, and is fast again once something is on it', async () => {
    const model = new ScaleModel({ protocol: 'sics', grams: 0 });
    const t = new MockTransport({ respond: (w) => model.receive(w) });
    const d = new ScaleDriver({ transport: t, protocol: 'sics', pollIntervalMs: 1, idleAfterMs: 20, idlePollIntervalMs: 300 });
    const seen: WeightReading[] = [];
    d.on('weight', (r) => seen.push(r));
    const until = async (pred: () => boolean): Promise<void> => {
      while (!pred()) await new Promise((r) => setTimeout(r, 2));
    };
    await d.start();
    expect(d.pollDelayMs).toBe(1);
    await until(() => d.pollDelayMs === 300);
    model.grams = 250;
    await until(() => seen.some((r) => r.grams === 250));
    expect(d.pollDelayMs).toBe(1);
    model.state = 'motion';
    await until(() => seen.some((r) => !r.stable));
    expect(d.pollDelayMs).toBe(1);
    await d.stop();
  });

  it('counts only a stable, in-range zero as empty', () => {
    expect(isEmptyReading(makeReading('sics', '0.000', 'kg', { stable: true }))).toBe(true);
    expect(isEmptyReading(makeReading('sics', '0.000', 'kg', { stable: false }))).toBe(false);
    expect(isEmptyReading(makeReading('sics', '0.005', 'kg', { stable: true }))).toBe(false);
    expect(isEmptyReading(makeReading('sics', '-0.000', 'kg', { stable: true }))).toBe(false);
    expect(isEmptyReading(makeReading('sics', null, 'kg', { stable: true, overload: true }))).toBe(false);
  });
});
