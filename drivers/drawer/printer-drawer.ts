// Cash drawer on a receipt printer's kick connector (RJ11/12: pin 2 or 5
// drives the solenoid, pin 3 reads the drawer's switch). Open = real-time
// pulse (DLE DC4 fn 1) so it opens even while the printer is out of paper;
// the open/closed state comes from DLE EOT 1 bit 2 / ASB byte 1 bit 2.
import { EventEmitter } from 'node:events';
import type { DrawerOpenArgs, DrawerStatus } from '../../contract/devices/drawer.ts';
import type { PrinterStatus } from '../../contract/devices/printer.ts';
import type { EscPosPrinter } from '../printer/printer.ts';

export interface PrinterDrawerContext {
  printer: EscPosPrinter;
  /** Pulse on this pin unless the command says otherwise. Default: the model's first pin. */
  pin?: 2 | 5;
}

export class PrinterDrawer extends EventEmitter<{ status: [s: DrawerStatus] }> {
  readonly #printer: EscPosPrinter;
  readonly #pin: 2 | 5 | undefined;
  #last: DrawerStatus['drawer'] = 'unknown';
  readonly #onStatus = (s: PrinterStatus) => this.#update(s);

  constructor(ctx: PrinterDrawerContext) {
    super();
    this.#printer = ctx.printer;
    this.#pin = ctx.pin;
  }

  get drawer(): DrawerStatus['drawer'] {
    return this.#last;
  }

  start(): void {
    this.#printer.on('status', this.#onStatus);
    if (this.#printer.status) this.#update(this.#printer.status);
  }
  stop(): void {
    this.#printer.off('status', this.#onStatus);
  }

  async open(args: DrawerOpenArgs = {}): Promise<{ pulsed: boolean; drawer: DrawerStatus['drawer'] }> {
    const pin = args.pin ?? this.#pin;
    await this.#printer.kickDrawer({ ...(pin ? { pin } : {}), onMs: args.pulseMs ?? 100 });
    return { pulsed: true, drawer: this.#last };
  }

  #update(s: PrinterStatus): void {
    // When the printer link is gone the sensor is unknown, not "closed".
    const next: DrawerStatus['drawer'] = s.source === 'transport' ? 'unknown' : (s.drawer ?? 'unknown');
    if (next === this.#last) return;
    this.#last = next;
    this.emit('status', { drawer: next, via: 'printer', at: s.at });
  }
}
