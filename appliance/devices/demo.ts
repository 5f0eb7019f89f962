// --demo: the simulators from drivers/sim started by the devices process and
// configured as peripherals, so a newcomer scans, sells and sees the receipt.
//   printer-1  TCP 9100 ESC/POS simulator (receipts rendered as text to stdout)
//   drawer-1   the printer simulator's kick connector
//   scanner-1  a pseudo-terminal serial scanner; publish
//              store/{s}/devices/scanner-1/cmd/simulate { correlation, args: { code } }
//              (or let the demo scan a demo catalog item) and watch .../scan
//   scale-1    a pseudo-terminal MT-SICS scale (protocol `auto`: the devices
//              process probes it); publish store/{s}/devices/scale-1/cmd/simulate
//              { correlation, args: { grams?, state? } } to put goods on it or
//              shake it (state stable|motion|overload|underzero), watch .../weight
import { PtyPort } from '../../drivers/sim/pty.ts';
import { SimPrinter } from '../../drivers/sim/printer.ts';
import { ScaleSimulator, type SimScaleState } from '../../drivers/sim/scale.ts';
import type { Logger } from '../log.ts';
import type { PeripheralEntry } from './config.ts';

export interface DemoSimulators {
  peripherals: PeripheralEntry[];
  printer: SimPrinter;
  scanner: PtyPort;
  scale: ScaleSimulator;
  /** Make the simulated scanner read a code (AIM prefix optional: "]E04006381333931"). */
  scan(code: string): void;
  /** Put a load on the simulated scale and/or change its state. */
  weigh(change: { grams?: number; state?: SimScaleState }): void;
  stop(): Promise<void>;
}

export interface DemoOptions {
  log: Logger;
  /** Where rendered receipts go (default stdout). */
  print?: (text: string) => void;
}

export async function startDemoSimulators(opts: DemoOptions): Promise<DemoSimulators> {
  const print = opts.print ?? ((t: string) => process.stdout.write(t));
  const printer = await new SimPrinter({ port: 0, columns: 42 }).start();
  printer.on('receipt', (r) => {
    if (r.complete) print(`\n----- printer-1 (simulator) receipt #${r.seq} -----\n${printer.renderText(r)}\n-----\n`);
  });
  printer.on('drawer', (d) => print(`[drawer-1 opened by pin ${d.pin}]\n`));
  const scanner = await PtyPort.open();
  // 0.482 kg of bananas on the platter, steady: a weight to sell from the first minute.
  const scale = await ScaleSimulator.start({ protocol: 'sics', grams: 482, state: 'stable' });
  opts.log.info({ printer: printer.uri, scanner: scanner.path, scale: scale.path }, 'demo simulators started');
  return {
    printer,
    scanner,
    scale,
    peripherals: [
      { id: 'printer-1', kind: 'printer', uri: printer.uri, model: 'epson-tm-t88', enabled: true },
      { id: 'drawer-1', kind: 'drawer', printer: 'printer-1', pin: 2, enabled: true },
      { id: 'scanner-1', kind: 'scanner', uri: `serial://${scanner.path}?baud=9600`, mode: 'serial', enabled: true },
      { id: 'scale-1', kind: 'scale', uri: `serial://${scale.path}`, protocol: 'auto', enabled: true },
    ],
    scan: (code) => scanner.write(`${code}\r\n`),
    weigh: ({ grams, state }) => scale.set(state ?? scale.model.state, grams),
    async stop() {
      await scale.close().catch(() => {});
      await scanner.close().catch(() => {});
      await printer.stop().catch(() => {});
    },
  };
}
