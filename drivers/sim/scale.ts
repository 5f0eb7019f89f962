// Pseudo-terminal scale simulator for each protocol (issue 4 §8): a real
// program on the device side of a pty, switchable between stable, in motion,
// overload and under zero, honouring zero and tare.
//
//   node_modules/.bin/node drivers/sim/scale.ts --protocol sics [--weight 0.195]
//        [--state stable|motion|overload|underzero] [--framing 7E1] [--link /tmp/ttyScale]
// prints the pty path on stdout, then reads control lines on stdin:
//   weight 1.234 | stable | motion | overload | underzero | unplug | quit
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { PtyPort } from './pty.ts';
import { casBcc } from '../scale/cas.ts';
import { scaleProtocols } from '../scale/scale.ts';
import type { ScaleProtocolName } from '../scale/types.ts';
import { parseFraming, type Framing } from '../transports/uri.ts';

export type SimScaleState = 'stable' | 'motion' | 'overload' | 'underzero';

export interface ScaleModelOptions {
  protocol: ScaleProtocolName;
  /** Gross load in grams on the platter. */
  grams?: number;
  state?: SimScaleState;
}

const fmtKg = (g: number, width = 0): string => {
  const sign = g < 0 ? '-' : '';
  const a = Math.abs(g);
  return `${sign}${Math.trunc(a / 1000)}.${String(a % 1000).padStart(3, '0')}`.padStart(width, ' ');
};

/**
 * The device logic, independent of the pty: bytes in → bytes out. Tests can
 * drive it directly; ScaleSimulator wires it to a real pty.
 */
export class ScaleModel {
  readonly protocol: ScaleProtocolName;
  grams: number;
  state: SimScaleState;
  zeroOffset = 0;
  tareGrams = 0;
  #buf = '';
  #tick = 0;
  /** Every command the device understood, for assertions. */
  readonly commands: string[] = [];

  constructor(opts: ScaleModelOptions) {
    this.protocol = opts.protocol;
    this.grams = opts.grams ?? 0;
    this.state = opts.state ?? 'stable';
  }

  /** Net weight on display, in grams; in motion it wobbles by ±1 g so readings change. */
  get netGrams(): number {
    const wobble = this.state === 'motion' ? (this.#tick++ % 2 === 0 ? 1 : -1) : 0;
    return this.grams - this.zeroOffset - this.tareGrams + wobble;
  }

  #canZeroOrTare(): boolean {
    return this.state === 'stable';
  }

  receive(bytes: Buffer): Buffer {
    const out: Buffer[] = [];
    for (const b of bytes) {
      const reply = this.#byte(b);
      if (reply) out.push(reply);
    }
    return Buffer.concat(out);
  }

  #byte(b: number): Buffer | undefined {
    switch (this.protocol) {
      case 'cas':
        if (b === 0x05) return Buffer.from([0x06]);
        if (b === 0x11) return this.#casFrame();
        return undefined;
      case 'toledo8217':
        return this.#toledo(String.fromCharCode(b));
      case 'sics':
      case 'nci': {
        const c = String.fromCharCode(b);
        if (c === '\r' || c === '\n') {
          const line = this.#buf;
          this.#buf = '';
          if (!line) return undefined;
          return this.protocol === 'sics' ? this.#sics(line) : this.#nci(line);
        }
        this.#buf = (this.#buf + c).slice(-64);
        return undefined;
      }
    }
  }

  #sics(line: string): Buffer {
    const r = (s: string): Buffer => Buffer.from(`${s}\r\n`, 'latin1');
    this.commands.push(line);
    switch (line) {
      case 'S':
      case 'SI': {
        if (this.state === 'overload') return r('S +');
        if (this.state === 'underzero') return r('S -');
        if (this.state === 'motion') return line === 'S' ? r('S I') : r(`S D ${fmtKg(this.netGrams, 10)} kg`);
        return r(`S S ${fmtKg(this.netGrams, 10)} kg`);
      }
      case 'Z':
        if (!this.#canZeroOrTare()) return r(this.state === 'overload' ? 'Z +' : this.state === 'underzero' ? 'Z -' : 'Z I');
        this.zeroOffset = this.grams;
        this.tareGrams = 0;
        return r('Z A');
      case 'T':
        if (!this.#canZeroOrTare()) return r(this.state === 'overload' ? 'T +' : this.state === 'underzero' ? 'T -' : 'T I');
        this.tareGrams = this.grams - this.zeroOffset;
        return r(`T S ${fmtKg(this.tareGrams, 10)} kg`);
      case 'TAC':
        this.tareGrams = 0;
        return r('TAC A');
      case '@':
        return r('I4 A "SIM0001"');
      default:
        this.commands.pop();
        return r('ES');
    }
  }

  #toledoStatus(): Buffer {
    let s = 0x60;
    if (this.state === 'motion') s |= 0x01;
    if (this.state === 'overload') s |= 0x02;
    if (this.state === 'underzero') s |= 0x04;
    if (this.netGrams === 0) s |= 0x10;
    return Buffer.from([0x02, 0x3f, s, 0x0d]);
  }

  #toledo(c: string): Buffer | undefined {
    switch (c) {
      case 'W':
        this.commands.push('W');
        if (this.state !== 'stable') return this.#toledoStatus();
        return Buffer.from(`\x02${fmtKg(this.netGrams).padStart(6, '0')}\r`, 'latin1');
      case 'S':
        this.commands.push('S');
        return this.#toledoStatus();
      case 'Z':
        this.commands.push('Z');
        if (this.#canZeroOrTare()) {
          this.zeroOffset = this.grams;
          this.tareGrams = 0;
        }
        return this.#toledoStatus();
      default:
        return undefined;
    }
  }

  #casFrame(): Buffer {
    this.commands.push('DC1');
    const sta = this.state === 'motion' ? 'U' : 'S';
    const net = this.netGrams;
    const sign = this.state === 'overload' ? 'F' : net < 0 || this.state === 'underzero' ? '-' : ' ';
    const w =
      this.state === 'overload'
        ? '------'
        : fmtKg(Math.abs(this.state === 'underzero' ? Math.min(net, -1) : net))
            .padStart(6, '0')
            .slice(-6);
    const data = Buffer.from(`${sta}${sign}${w}kg`, 'latin1');
    return Buffer.concat([Buffer.from([0x01, 0x02]), data, Buffer.from([casBcc(data), 0x03, 0x04])]);
  }

  #nciStatus(): string {
    const s1 = 0x30 | (this.state === 'motion' ? 0x01 : 0) | (this.netGrams === 0 ? 0x02 : 0);
    const s2 = 0x30 | (this.state === 'underzero' ? 0x01 : 0) | (this.state === 'overload' ? 0x02 : 0) | 0x40;
    const s3 = 0x30 | (this.tareGrams !== 0 ? 0x04 : 0);
    return `S${String.fromCharCode(s1, s2, s3)}`;
  }

  #nci(line: string): Buffer {
    const cmd = line.trim();
    this.commands.push(cmd);
    switch (cmd) {
      case 'W': {
        const w = this.state === 'overload' ? '^^^^^^' : this.state === 'underzero' ? '______' : fmtKg(this.netGrams).padStart(6, '0');
        return Buffer.from(`\n${w}KG\r\n${this.#nciStatus()}\r\x03`, 'latin1');
      }
      case 'Z':
        if (this.#canZeroOrTare()) {
          this.zeroOffset = this.grams;
          this.tareGrams = 0;
        }
        return Buffer.from(`\n${this.#nciStatus()}\r\x03`, 'latin1');
      case 'T':
        if (this.#canZeroOrTare()) this.tareGrams = this.grams - this.zeroOffset;
        return Buffer.from(`\n${this.#nciStatus()}\r\x03`, 'latin1');
      case 'S':
        return Buffer.from(`\n${this.#nciStatus()}\r\x03`, 'latin1');
      default:
        this.commands.pop();
        return Buffer.from('\n?\r\x03', 'latin1');
    }
  }
}

export interface ScaleSimulatorOptions extends ScaleModelOptions {
  /** Device line settings; default the protocol's (8217 and NCI: 7E1). A mismatch with the driver is emulated. */
  framing?: Framing;
  link?: string;
}

/** A ScaleModel on a real pseudo-terminal. */
export class ScaleSimulator {
  readonly model: ScaleModel;
  readonly port: PtyPort;

  private constructor(model: ScaleModel, port: PtyPort) {
    this.model = model;
    this.port = port;
  }

  get path(): string {
    return this.port.path;
  }

  static async start(opts: ScaleSimulatorOptions): Promise<ScaleSimulator> {
    const framing = opts.framing ?? scaleProtocols[opts.protocol].defaults.framing;
    const port = await PtyPort.open({ framing, ...(opts.link ? { link: opts.link } : {}) });
    const sim = new ScaleSimulator(new ScaleModel(opts), port);
    port.on('data', (d) => {
      const reply = sim.model.receive(d);
      if (reply.length) port.write(reply);
    });
    return sim;
  }

  set(state: SimScaleState, grams?: number): void {
    this.model.state = state;
    if (grams !== undefined) this.model.grams = grams;
  }

  /** Send raw bytes as if the scale produced them (garbage, partial frames). */
  inject(bytes: Uint8Array | string): void {
    this.port.write(bytes);
  }

  unplug(): Promise<void> {
    return this.port.unplug();
  }

  close(): Promise<void> {
    return this.port.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      protocol: { type: 'string', default: 'sics' },
      weight: { type: 'string', default: '0.195' },
      state: { type: 'string', default: 'stable' },
      framing: { type: 'string' },
      link: { type: 'string' },
    },
  });
  const protocol = values.protocol as ScaleProtocolName;
  if (!scaleProtocols[protocol]) throw new Error(`--protocol must be one of ${Object.keys(scaleProtocols).join(', ')}`);
  const kgToGrams = (s: string): number => Math.round(Number(s) * 1000);
  const sim = await ScaleSimulator.start({
    protocol,
    grams: kgToGrams(values.weight!),
    state: values.state as SimScaleState,
    ...(values.framing ? { framing: parseFraming(values.framing) } : {}),
    ...(values.link ? { link: values.link } : {}),
  });
  process.stdout.write(`${sim.path}\n`);
  sim.port.on('close', () => process.exit(0));
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    const [cmd, arg] = l.trim().split(/\s+/);
    if (cmd === 'weight' && arg) sim.model.grams = kgToGrams(arg);
    else if (cmd === 'stable' || cmd === 'motion' || cmd === 'overload' || cmd === 'underzero') sim.set(cmd);
    else if (cmd === 'unplug' || cmd === 'quit') void sim.unplug();
    else if (cmd) process.stderr.write(`unknown command ${cmd}: weight <kg> | stable | motion | overload | underzero | unplug\n`);
  });
  rl.on('close', () => void sim.close());
}

if (import.meta.main) await main();
