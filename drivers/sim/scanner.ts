// Pseudo-terminal serial (CDC-ACM style) barcode scanner simulator.
//   node_modules/.bin/node drivers/sim/scanner.ts [--codes ']E04006381333931,]E496385074']
//        [--terminator crlf|cr|lf|tab] [--prefix STR] [--link /tmp/ttyScanner]
// prints the pty path, emits --codes once a driver has opened the port, then
// sends every line typed on stdin as one scan ("\x1d" escapes become GS).
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { PtyPort } from './pty.ts';

const TERMINATORS: Record<string, string> = { crlf: '\r\n', cr: '\r', lf: '\n', tab: '\t' };

export interface ScannerSimulatorOptions {
  terminator?: string;
  prefix?: string;
  link?: string;
}

export class SerialScannerSimulator {
  readonly port: PtyPort;
  readonly terminator: string;
  readonly prefix: string;

  private constructor(port: PtyPort, opts: ScannerSimulatorOptions) {
    this.port = port;
    this.terminator = opts.terminator ?? '\r\n';
    this.prefix = opts.prefix ?? '';
  }

  get path(): string {
    return this.port.path;
  }

  static async start(opts: ScannerSimulatorOptions = {}): Promise<SerialScannerSimulator> {
    return new SerialScannerSimulator(await PtyPort.open(opts.link ? { link: opts.link } : {}), opts);
  }

  /** Resolves once a driver has opened the port (it set line settings). */
  whenOpened(): Promise<void> {
    return this.port.line ? Promise.resolve() : new Promise((resolve) => this.port.once('line', () => resolve()));
  }

  /** One scan: prefix + code (with its AIM id if you include one) + terminator. */
  scan(code: string): void {
    this.port.write(Buffer.from(this.prefix + code + this.terminator, 'latin1'));
  }

  unplug(): Promise<void> {
    return this.port.unplug();
  }

  close(): Promise<void> {
    return this.port.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { codes: { type: 'string' }, terminator: { type: 'string', default: 'crlf' }, prefix: { type: 'string' }, link: { type: 'string' } } });
  const terminator = TERMINATORS[values.terminator!];
  if (!terminator) throw new Error(`--terminator must be one of ${Object.keys(TERMINATORS).join(', ')}`);
  const sim = await SerialScannerSimulator.start({ terminator, ...(values.prefix ? { prefix: values.prefix } : {}), ...(values.link ? { link: values.link } : {}) });
  process.stdout.write(`${sim.path}\n`);
  sim.port.on('close', () => process.exit(0));
  const unescapeGs = (s: string): string => s.replace(/\\x1d/gi, '\x1d');
  if (values.codes) {
    const codes = values.codes.split(',').map(unescapeGs);
    // The pty reports the first termios change when the driver opens the port.
    void sim.whenOpened().then(() => {
      for (const c of codes) sim.scan(c);
    });
  }
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => l.trim() && sim.scan(unescapeGs(l.trim())));
  rl.on('close', () => void sim.close());
}

if (import.meta.main) await main();
