// Toledo 8217 ("Mettler Toledo 8217 protocol", the demand protocol of the
// 8217 checkout scales and the scanner-scales that emulate it; same framing as
// the 8213 demand format): 7 data bits, even parity, 1 stop bit, 9600 baud.
//   host 'W' → <STX>ww.www<CR>         weight record (only when valid & stable)
//            → <STX>?<status><CR>      status record otherwise
//   host 'S' → status record;  host 'Z' → zero, answered by a status record
// Status byte (bit 7 = parity on the wire, masked by the UART):
//   bit0 in motion, bit1 over capacity, bit2 under zero, bit3 outside zero
//   capture range, bit4 center of zero, bit5 and bit6 always 1.
// The frame has no unit: it comes from config (the scale's calibration unit).
// There is no tare command in this protocol.
import type { WeightUnit } from '../../contract/devices/scale.ts';
import { BufferedFrameParser, ScaleError, ScaleErrorCode, expectFrame, makeReading, normDecimal, type ScaleFrame, type ScaleIo, type ScaleProtocol } from './types.ts';

const STX = 0x02;
const CR = 0x0d;
const MAX_FRAME = 12;

export const T8217 = { MOTION: 0x01, OVER: 0x02, UNDER: 0x04, OUTSIDE_ZERO: 0x08, CENTER_ZERO: 0x10, ALWAYS: 0x60 } as const;

export class Toledo8217Parser extends BufferedFrameParser {
  readonly #unit: WeightUnit;
  constructor(opts: { unit: WeightUnit }) {
    super(64);
    this.#unit = opts.unit;
  }
  push(chunk: Buffer): ScaleFrame[] {
    this.buf.append(chunk);
    const out: ScaleFrame[] = [];
    for (;;) {
      const data = this.buf.data;
      const stx = data.indexOf(STX);
      if (stx < 0) {
        this.buf.discard(data.length);
        break;
      }
      if (stx > 0) this.buf.discard(stx);
      const d = this.buf.data;
      const cr = d.indexOf(CR);
      if (cr < 0) {
        if (d.length > MAX_FRAME) this.buf.discard(1);
        else break;
        continue;
      }
      if (cr > MAX_FRAME) {
        this.buf.discard(1);
        continue;
      }
      const body = d.subarray(1, cr);
      const frame = this.#frame(body);
      if (frame) {
        this.buf.consume(cr + 1);
        out.push(frame);
      } else this.buf.discard(1);
    }
    return out;
  }
  #frame(body: Buffer): ScaleFrame | undefined {
    if (body.length === 2 && body[0] === 0x3f) {
      const s = body[1]! & 0x7f;
      if ((s & T8217.ALWAYS) !== T8217.ALWAYS) return undefined;
      const reading = makeReading('toledo8217', null, this.#unit, { stable: (s & T8217.MOTION) === 0, overload: (s & T8217.OVER) !== 0, underZero: (s & T8217.UNDER) !== 0 });
      return { type: 'reply', command: 'status', status: s.toString(16), reading };
    }
    const text = body.toString('latin1');
    if (!/^[0-9]{1,6}\.?[0-9]{0,4}$/.test(text) || text.length < 3) return undefined;
    const value = normDecimal(text);
    if (value === undefined) return undefined;
    return { type: 'reading', reading: makeReading('toledo8217', value, this.#unit, { stable: true }) };
  }
}

export const toledo8217: ScaleProtocol = {
  name: 'toledo8217',
  manual: 'Mettler Toledo 8217 demand protocol (W/S/Z, STX..CR records, status byte bits 0-6)',
  defaults: { baudRate: 9600, framing: { dataBits: 7, parity: 'even', stopBits: 1 } },
  supports: { zero: true, tare: false },
  createParser: (opts) => new Toledo8217Parser(opts),
  async weigh(io: ScaleIo) {
    await io.write('W');
    const f = await expectFrame(io, ['reading', 'reply'], 'weigh (W)');
    if (f.type === 'reading') return f.reading;
    if (f.reading) return f.reading;
    throw new ScaleError(ScaleErrorCode.Protocol, 'weigh (W): no weight or status record');
  },
  async zero(io: ScaleIo) {
    await io.write('Z');
    const f = await expectFrame(io, ['reply'], 'zero (Z)', 5000);
    const r = f.reading;
    if (r && (!r.stable || r.overload || r.underZero === true)) {
      // The 8217 ignores Z in motion or out of range and still answers with its status.
      throw new ScaleError(ScaleErrorCode.Refused, `zero refused: scale ${r.status}`);
    }
  },
  async tare() {
    throw new ScaleError(ScaleErrorCode.Unsupported, 'the Toledo 8217 protocol has no tare command; tare on the scale', false);
  },
};
