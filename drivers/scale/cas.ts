// CAS ECR protocol (CAS PD-II / SW-II / ER series manuals, "RS-232C
// protocol", ECR type): 9600 8N1.
//   host ENQ (05) → scale ACK (06) ready | NAK (15)
//   host DC1 (11) → SOH STX STA SIGN W5..W0 UN1 UN2 BCC ETX EOT   (15 bytes)
//     STA  'S' stable | 'U' unstable
//     SIGN ' ' positive/zero | '-' negative | 'F' overload (Ohaus/CAS ECR variant)
//     W5..W0 six characters including the decimal point, e.g. ' 1.234' or '01.234'
//     UN   'kg' | 'lb' (either case)
//     BCC  XOR of STA .. UN2 (the data bytes between STX and BCC)
// There are no zero or tare commands in this protocol.
import { BufferedFrameParser, ScaleError, ScaleErrorCode, expectFrame, makeReading, normDecimal, toUnit, type ScaleFrame, type ScaleIo, type ScaleProtocol } from './types.ts';

export const ENQ = 0x05;
export const ACK = 0x06;
export const NAK = 0x15;
export const DC1 = 0x11;
const SOH = 0x01;
const STX = 0x02;
const ETX = 0x03;
const EOT = 0x04;
const FRAME = 15;

export function casBcc(data: Uint8Array): number {
  let x = 0;
  for (const b of data) x ^= b;
  return x;
}

/** Build a CAS data frame (simulator and tests). */
export function encodeCasFrame(sta: 'S' | 'U', sign: ' ' | '-' | 'F', weight6: string, unit: string): Buffer {
  const data = Buffer.from(sta + sign + weight6.padStart(6, ' ').slice(-6) + unit.slice(0, 2), 'latin1');
  return Buffer.concat([Buffer.from([SOH, STX]), data, Buffer.from([casBcc(data), ETX, EOT])]);
}

export class CasParser extends BufferedFrameParser {
  constructor() {
    super(64);
  }
  push(chunk: Buffer): ScaleFrame[] {
    this.buf.append(chunk);
    const out: ScaleFrame[] = [];
    for (;;) {
      const d = this.buf.data;
      if (d.length === 0) break;
      const b = d[0]!;
      if (b === ACK || b === NAK) {
        this.buf.consume(1);
        out.push({ type: b === ACK ? 'ack' : 'nak' });
        continue;
      }
      if (b !== SOH) {
        this.buf.discard(1);
        continue;
      }
      if (d.length < FRAME) break;
      if (d[1] !== STX || d[13] !== ETX || d[14] !== EOT) {
        this.buf.discard(1);
        continue;
      }
      const frame = this.buf.consume(FRAME);
      out.push(this.#frame(frame));
    }
    return out;
  }
  #frame(f: Buffer): ScaleFrame {
    const data = f.subarray(2, 12);
    if (casBcc(data) !== f[12]) return { type: 'error', code: 'BCC', message: `frame failed its block check (BCC ${f[12]!.toString(16)} ≠ ${casBcc(data).toString(16)})` };
    const text = data.toString('latin1');
    const sta = text[0];
    const sign = text[1];
    const unit = toUnit(text.slice(8, 10));
    if ((sta !== 'S' && sta !== 'U') || !unit) return { type: 'error', code: 'FORMAT', message: `unexpected status/unit in ${JSON.stringify(text)}` };
    if (sign === 'F') return { type: 'reading', reading: makeReading('cas', null, unit, { stable: false, overload: true }) };
    const value = normDecimal((sign === '-' ? '-' : '') + text.slice(2, 8).trim());
    if (value === undefined || (sign !== ' ' && sign !== '-')) return { type: 'error', code: 'FORMAT', message: `unreadable weight ${JSON.stringify(text.slice(1, 8))}` };
    return { type: 'reading', reading: makeReading('cas', value, unit, { stable: sta === 'S' }) };
  }
}

export const cas: ScaleProtocol = {
  name: 'cas',
  manual: 'CAS ECR protocol (PD-II/SW-II manuals: ENQ/ACK, DC1 → SOH STX STA SIGN W UN BCC ETX EOT)',
  defaults: { baudRate: 9600, framing: { dataBits: 8, parity: 'none', stopBits: 1 } },
  supports: { zero: false, tare: false },
  createParser: () => new CasParser(),
  async weigh(io: ScaleIo) {
    await io.write(Buffer.from([ENQ]));
    const a = await expectFrame(io, ['ack', 'nak'], 'weigh (ENQ)');
    if (a.type === 'nak') throw new ScaleError(ScaleErrorCode.Refused, 'weigh (ENQ): the scale answered NAK (not ready)');
    await io.write(Buffer.from([DC1]));
    const f = await expectFrame(io, ['reading'], 'weigh (DC1)');
    return f.reading;
  },
  async zero() {
    throw new ScaleError(ScaleErrorCode.Unsupported, 'the CAS ECR protocol has no zero command; zero on the scale', false);
  },
  async tare() {
    throw new ScaleError(ScaleErrorCode.Unsupported, 'the CAS ECR protocol has no tare command; tare on the scale', false);
  },
};
