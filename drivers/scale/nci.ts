// NCI / Avery Weigh-Tronix ECR protocol ("NCI Standard Protocol", as in the
// Weigh-Tronix 7820/6702 and Ohaus Aviator/Ranger "NCI" interface manuals):
// 9600 7E1, commands end with CR.
//   W<CR> → <LF>xx.xxxUU<CR><LF>S<s1><s2>[<s3>]<CR><ETX>    weight + status
//   S<CR> → <LF>S<s1><s2>[<s3>]<CR><ETX>                     status only
//   Z<CR> → status response;  T<CR> → tare (on models that support it), status response
//   unknown → <LF>?<CR><ETX>
// The leading 'S' of the status line is optional in the wild; both are accepted.
// Status byte 1: bit0 in motion, bit1 at zero, bit2 RAM error, bit3 EEPROM error.
// Status byte 2: bit0 under capacity, bit1 over capacity, bit2 ROM error, bit3 faulty calibration.
// Status byte 3 (optional): bit2 net weight.  Every status byte: bits 4,5 = 1; bit6 = another byte follows.
import type { WeightUnit } from '../../contract/devices/scale.ts';
import { BufferedFrameParser, ScaleError, ScaleErrorCode, expectFrame, makeReading, normDecimal, toUnit, type ScaleFrame, type ScaleIo, type ScaleProtocol } from './types.ts';

const LF = 0x0a;
const ETX = 0x03;
const MAX_FRAME = 40;

export const NCI = {
  MOTION: 0x01,
  AT_ZERO: 0x02,
  UNDER: 0x01, // byte 2
  OVER: 0x02, // byte 2
  NET: 0x04, // byte 3
  ALWAYS: 0x30,
  FOLLOWS: 0x40,
} as const;

export function parseNciFrame(body: string, unitFallback: WeightUnit): ScaleFrame | undefined {
  // body = everything between the leading LF and ETX
  const lines = body.split('\r\n').map((l) => l.replace(/\r$/, ''));
  if (lines.at(-1) === '') lines.pop();
  if (lines.length === 1 && lines[0] === '?') return { type: 'error', code: '?', message: 'the scale did not recognise the command (?)' };
  const statusLine = lines.at(-1);
  if (statusLine === undefined) return undefined;
  const st = statusLine.startsWith('S') && statusLine.length >= 3 ? statusLine.slice(1) : statusLine;
  if (st.length < 2 || st.length > 4) return undefined;
  const bytes = [...st].map((c) => c.charCodeAt(0) & 0x7f);
  if (bytes.some((b) => (b & NCI.ALWAYS) !== NCI.ALWAYS)) return undefined;
  const [s1, s2, s3] = bytes as [number, number, number?];
  const flags = { stable: (s1 & NCI.MOTION) === 0, underZero: (s2 & NCI.UNDER) !== 0, overload: (s2 & NCI.OVER) !== 0, net: s3 !== undefined && (s3 & NCI.NET) !== 0 };
  if (lines.length === 2) {
    const m = /^\s*(-?)\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]{1,2})$/.exec(lines[0]!);
    const unit = m ? toUnit(m[3]!) : undefined;
    const value = m ? normDecimal(m[1]! + m[2]!) : undefined;
    // Overload/underload weight fields are filled with non-digits; the status bits still tell.
    const reading = makeReading('nci', value ?? null, unit ?? unitFallback, flags);
    return { type: 'reading', reading };
  }
  if (lines.length === 1) return { type: 'reply', command: 'status', status: st, reading: makeReading('nci', null, unitFallback, flags) };
  return undefined;
}

export class NciParser extends BufferedFrameParser {
  readonly #unit: WeightUnit;
  constructor(opts: { unit: WeightUnit }) {
    super(128);
    this.#unit = opts.unit;
  }
  push(chunk: Buffer): ScaleFrame[] {
    this.buf.append(chunk);
    const out: ScaleFrame[] = [];
    for (;;) {
      const d = this.buf.data;
      const lf = d.indexOf(LF);
      if (lf < 0) {
        this.buf.discard(d.length);
        break;
      }
      if (lf > 0) this.buf.discard(lf);
      const e = this.buf.data.indexOf(ETX);
      if (e < 0) {
        if (this.buf.data.length > MAX_FRAME) this.buf.discard(1);
        else break;
        continue;
      }
      if (e > MAX_FRAME) {
        this.buf.discard(1);
        continue;
      }
      const body = this.buf.data.subarray(1, e).toString('latin1');
      const f = parseNciFrame(body, this.#unit);
      if (f) {
        this.buf.consume(e + 1);
        out.push(f);
      } else this.buf.discard(1);
    }
    return out;
  }
}

async function statusCommand(io: ScaleIo, cmd: string, what: string): Promise<void> {
  await io.write(`${cmd}\r`);
  const f = await expectFrame(io, ['reply', 'reading'], what, 5000);
  const r = f.reading;
  if (r && (!r.stable || r.overload)) throw new ScaleError(ScaleErrorCode.Refused, `${what} refused: scale ${r.status}`);
}

export const nci: ScaleProtocol = {
  name: 'nci',
  manual: 'NCI / Avery Weigh-Tronix ECR protocol (W, S, Z, T; LF..CR..ETX; status bytes 1-3)',
  defaults: { baudRate: 9600, framing: { dataBits: 7, parity: 'even', stopBits: 1 } },
  supports: { zero: true, tare: true },
  createParser: (opts) => new NciParser(opts),
  async weigh(io: ScaleIo) {
    await io.write('W\r');
    const f = await expectFrame(io, ['reading', 'reply'], 'weigh (W)');
    if (f.reading) return f.reading;
    throw new ScaleError(ScaleErrorCode.Protocol, 'weigh (W): no weight in the reply');
  },
  zero: (io) => statusCommand(io, 'Z', 'zero (Z)'),
  tare: (io) => statusCommand(io, 'T', 'tare (T)'),
};
