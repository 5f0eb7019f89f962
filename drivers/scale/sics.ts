// Mettler Toledo MT-SICS (Standard Interface Command Set), per the "MT-SICS
// Interface Command Set" reference manual (e.g. for Excellence / New Classic
// balances and IND indicators), §2 "Command and response format": ASCII
// commands and responses terminated by CR LF; §3 Level 0 commands S, SI, Z, @
// and Level 1 command T.
//   S  / SI   → "S S     0.195 kg"  stable   | "S D     0.197 kg" dynamic
//                "S +" overload | "S -" underload | "S I" not executable (busy)
//   Z         → "Z A" zeroed | "Z I" not executed | "Z +"/"Z -" out of range
//   T         → "T S     0.120 kg" tare stored | "T I" | "T +" | "T -"
//   @         → "I4 A \"serial\"" (reset; answers with the serial number)
//   any       → "ES" syntax error, "ET" transmission error, "EL" logical error (§2.2)
import type { WeightUnit } from '../../contract/devices/scale.ts';
import { BufferedFrameParser, ScaleError, ScaleErrorCode, expectFrame, makeReading, normDecimal, toUnit, type ScaleFrame, type ScaleIo, type ScaleProtocol } from './types.ts';

const MAX_LINE = 64;
const ERRORS: Record<string, string> = {
  ES: 'syntax error (ES): the scale did not recognise the command (if every command gets ES, check the framing: 7E1 vs 8N1)',
  ET: 'transmission error (ET): parity or framing problem on the line — check framing in the URI',
  EL: 'logical error (EL): the command cannot be executed now',
};

export function parseSicsLine(line: string, unitFallback: WeightUnit): ScaleFrame | undefined {
  const e = ERRORS[line.trim()];
  if (e) return { type: 'error', code: line.trim(), message: e };
  const w = /^(S|T) ([SD]) +(-?[0-9.]+) +([A-Za-z]+)$/.exec(line);
  if (w) {
    const value = normDecimal(w[3]!);
    const unit = toUnit(w[4]!) ?? undefined;
    if (value === undefined || unit === undefined) return undefined;
    const reading = makeReading('sics', value, unit, { stable: w[2] === 'S' });
    return w[1] === 'S' ? { type: 'reading', reading } : { type: 'reply', command: 'T', status: 'S', reading };
  }
  const s = /^(S|SI|Z|T|TA|TAC) ([AI+-])$/.exec(line);
  if (s) {
    const command = s[1] === 'SI' ? 'S' : s[1]!;
    if (command === 'S' && (s[2] === '+' || s[2] === '-')) {
      return { type: 'reading', reading: makeReading('sics', null, unitFallback, { stable: false, overload: s[2] === '+', underZero: s[2] === '-' }) };
    }
    return { type: 'reply', command, status: s[2]! };
  }
  if (/^I4 A "[^"]*"$/.test(line)) return { type: 'reply', command: 'I4', status: 'A' };
  return undefined;
}

export class SicsParser extends BufferedFrameParser {
  readonly #unit: WeightUnit;
  constructor(opts: { unit: WeightUnit }) {
    super(MAX_LINE * 4);
    this.#unit = opts.unit;
  }
  push(chunk: Buffer): ScaleFrame[] {
    this.buf.append(chunk);
    const out: ScaleFrame[] = [];
    for (;;) {
      const data = this.buf.data;
      const lf = data.indexOf(0x0a);
      if (lf < 0) {
        if (data.length > MAX_LINE) this.buf.discard(data.length);
        break;
      }
      const raw = this.buf.consume(lf + 1);
      const line = raw.toString('latin1').replace(/\r?\n$/, '');
      const f = line.length <= MAX_LINE && !/[^\x20-\x7e]/.test(line) ? parseSicsLine(line, this.#unit) : undefined;
      if (f) out.push(f);
      else {
        // Count the unusable line as garbage (keeps the 7E1-vs-8N1 diagnosis honest).
        this.buf.garbage += raw.length;
        for (const b of raw) if (b & 0x80) this.buf.highBit++;
      }
    }
    return out;
  }
}

export const sics: ScaleProtocol = {
  name: 'sics',
  manual: 'Mettler Toledo MT-SICS Interface Command Set reference manual, Level 0/1 (S, SI, Z, T, @)',
  defaults: { baudRate: 9600, framing: { dataBits: 8, parity: 'none', stopBits: 1 } },
  supports: { zero: true, tare: true },
  createParser: (opts) => new SicsParser(opts),
  async weigh(io: ScaleIo) {
    await io.write('SI\r\n');
    for (let i = 0; i < 3; i++) {
      const f = await expectFrame(io, ['reading', 'reply'], 'weigh (SI)');
      if (f.type === 'reading') return f.reading;
      if (f.command === 'S' && f.status === 'I') throw new ScaleError(ScaleErrorCode.Refused, 'weigh (SI): the scale is busy (S I)');
    }
    throw new ScaleError(ScaleErrorCode.Protocol, 'weigh (SI): no weight in the reply');
  },
  async zero(io: ScaleIo) {
    await io.write('Z\r\n');
    await sicsAck(io, 'Z', 'zero');
  },
  async tare(io: ScaleIo) {
    await io.write('T\r\n');
    await sicsAck(io, 'T', 'tare');
  },
};

async function sicsAck(io: ScaleIo, command: string, what: string): Promise<void> {
  // Zero and tare wait for a stable weight on the scale side; give them longer than a poll.
  for (let i = 0; i < 4; i++) {
    const f = await expectFrame(io, ['reply'], what, 5000);
    if (f.command !== command) continue;
    if (f.status === 'A' || f.status === 'S') return;
    const why = f.status === 'I' ? 'not executed (scale unstable or busy)' : f.status === '+' ? 'upper limit exceeded' : 'lower limit exceeded';
    throw new ScaleError(ScaleErrorCode.Refused, `${what} refused: ${why} (${command} ${f.status})`);
  }
  throw new ScaleError(ScaleErrorCode.Protocol, `${what}: no ${command} reply`);
}
