// --demo: the simulators from drivers/sim started by the devices process and
// configured as peripherals, so a newcomer scans, sells and sees the receipt.
//   printer-1  TCP 9100 ESC/POS simulator (receipts rendered as text to stdout)
//   drawer-1   the printer simulator's kick connector
//   scanner-1  a pseudo-terminal serial scanner; publish
//              store/{s}/devices/scanner-1/cmd/simulate { correlation, args: { code } }
//              (or let the demo scan a demo catalog item) and watch .../scan
import { PtyPort } from '../../drivers/sim/pty.ts';
import { SimPrinter } from '../../drivers/sim/printer.ts';
import type { Logger } from '../log.ts';
import type { PeripheralEntry } from './config.ts';

export interface DemoSimulators {
  peripherals: PeripheralEntry[];
  printer: SimPrinter;
  scanner: PtyPort;
  /** Make the simulated scanner read a code (AIM prefix optional: "]E04006381333931"). */
  scan(code: string): void;
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
  opts.log.info({ printer: printer.uri, scanner: scanner.path }, 'demo simulators started');
  return {
    printer,
    scanner,
    peripherals: [
      { id: 'printer-1', kind: 'printer', uri: printer.uri, model: 'epson-tm-t88', enabled: true },
      { id: 'drawer-1', kind: 'drawer', printer: 'printer-1', pin: 2, enabled: true },
      { id: 'scanner-1', kind: 'scanner', uri: `serial://${scanner.path}?baud=9600`, mode: 'serial', enabled: true },
    ],
    scan: (code) => scanner.write(`${code}\r\n`),
    async stop() {
      await scanner.close().catch(() => {});
      await printer.stop().catch(() => {});
    },
  };
}
