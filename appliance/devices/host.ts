// The devices host: configured + discovered peripherals, one runner each,
// hotplug events bound to them, commands routed, receipts auto-printed.
// Context in, lifecycle out (STYLE.md item 6): the constructor assigns,
// start() does the work, stop() undoes all of it.
import { DeviceErrorCode } from '../../contract/errors.ts';
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../../lib/atomic-file.ts';
import { PAIRING_CODE_PATTERN } from '../../contract/enrolment.ts';
import { join } from 'node:path';
import type { BindingInterface } from '@serialport/bindings-cpp';
import type { PeripheralState } from '../../contract/devices.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log.ts';
import { parseUri } from '../../drivers/transports/uri.ts';
import type { BoxStatusHandler, CommandResult, IncomingCommand, PosHandler, CommandHandler } from './bus.ts';
import { toCommandError } from './bus.ts';
import { specFromConfig } from './config.ts';
import { discoveredId, lookup, usbUri } from './device-table.ts';
import type { TransportBindings } from '../../drivers/transports/index.ts';
import { drawerFactory, PrinterService, printerFactory, scaleFactory, scannerFactory, type ScaleSettings, type TransportDeps } from './drivers.ts';
import { hex4, SerialByIdWatcher, usbIdentity, type SerialEntry, type UsbDeviceInfo, type UsbEventSource } from './hotplug.ts';
import { PeripheralRunner, type DriverFactory, type PeripheralSpec, type StateSink } from './runner.ts';
import type { SaleSource } from './sales.ts';

/** What the host needs from the bus (DeviceBus, or a recorder in unit tests). */
export interface BusPort extends StateSink {
  clearState(id: string): void;
  onCommand(handler: CommandHandler): void;
  onPosEvent(handler: PosHandler): void;
  onBoxStatus(handler: BoxStatusHandler): void;
  setPeripheralList(fn: () => string[]): void;
}

export interface DevicesHostContext {
  config: Pick<Config, 'peripherals' | 'devices' | 'store'>;
  bus: BusPort;
  /** Print queues and the list of published peripheral ids live here. */
  dataDir: string;
  sales: SaleSource;
  log: Logger;
  serialBinding?: () => BindingInterface;
  /**
   * Transport bindings for hid:// (node-hid or HidPlaybackBinding), usb://
   * (node-usb WebUSB printer binding or a fake), tcp connect, serial. Injected
   * per host, never global; `serialBinding` above wins for serial.
   */
  bindings?: TransportBindings;
  /** Scale poll/probe timing (tests shorten the poll interval). */
  scale?: ScaleSettings;
  /** Injected USB hotplug source; absent = no USB discovery. */
  usb?: UsbEventSource;
  /** Overrides config.devices.discovery.serialByIdDir (tests use a temp dir). */
  serialByIdDir?: string;
  /** Replaces the built-in driver factory of a kind (tests). */
  factories?: Partial<Record<PeripheralSpec['kind'], DriverFactory>>;
  backoff?: { minMs: number; maxMs: number };
}

export class DevicesHost {
  readonly #ctx: DevicesHostContext;
  readonly #runners = new Map<string, PeripheralRunner>();
  readonly #printers = new Map<string, PrinterService>();
  readonly #factories: Partial<Record<PeripheralSpec['kind'], DriverFactory>> = {};
  /** by-id name → peripheral id bound to it (configured or discovered). */
  readonly #byIdBindings = new Map<string, string>();
  /** usb identity → peripheral id. */
  readonly #usbBindings = new Map<string, string>();
  #serial: SerialByIdWatcher | undefined;
  #onUsbAttach: ((d: UsbDeviceInfo) => void) | undefined;
  #onUsbDetach: ((d: UsbDeviceInfo) => void) | undefined;
  #publishedFile: string;
  #published = new Set<string>();
  #started = false;

  constructor(ctx: DevicesHostContext) {
    this.#ctx = ctx;
    this.#publishedFile = join(ctx.dataDir, 'published-peripherals.json');
  }

  runner(id: string): PeripheralRunner | undefined {
    return this.#runners.get(id);
  }
  runners(): PeripheralRunner[] {
    return [...this.#runners.values()];
  }
  printer(id: string): PrinterService | undefined {
    return this.#printers.get(id);
  }
  get serialWatcher(): SerialByIdWatcher | undefined {
    return this.#serial;
  }

  async start(): Promise<void> {
    const { config, log, bus } = this.#ctx;
    mkdirSync(join(this.#ctx.dataDir, 'print'), { recursive: true, mode: 0o700 });
    this.#published = new Set(readJson<string[]>(this.#publishedFile) ?? []);
    const serial = this.#ctx.serialBinding?.();
    const deps: TransportDeps = { log, bindings: { ...this.#ctx.bindings, ...(serial ? { serial } : {}) } };
    const vm = config.devices.variableMeasure;
    Object.assign(this.#factories, {
      scanner: scannerFactory(deps, { ...(vm.length ? { variableMeasure: vm } : {}), keyboardLayout: config.devices.keyboardLayout }),
      scale: scaleFactory(deps, this.#ctx.scale),
      printer: printerFactory(deps, this.#printers),
      drawer: drawerFactory(this.#printers, log),
      ...this.#ctx.factories,
    });
    bus.setPeripheralList(() => [...this.#runners.keys()]);
    bus.onCommand((cmd) => this.#command(cmd));
    bus.onPosEvent((type, event) => this.#posEvent(type, event));
    bus.onBoxStatus((status) => this.#boxStatus(status));

    const byIdDir = this.#ctx.serialByIdDir ?? config.devices.discovery.serialByIdDir;
    const usbEvents = this.#ctx.usb !== undefined && config.devices.discovery.usb;
    // Configured peripherals first: they own their ids and their devices.
    for (const entry of config.peripherals) {
      if (!entry.enabled) continue;
      const spec = specFromConfig(entry);
      if (spec.kind === 'printer') await this.#addPrinterService(spec);
      const runner = this.#addRunner(spec);
      const bound = bindingOf(spec, byIdDir);
      if (bound?.type === 'by-id') this.#byIdBindings.set(bound.name, spec.id);
      else if (bound?.type === 'usb' && usbEvents) this.#usbBindings.set(bound.key, spec.id);
      // tcp, plain device paths, and usb/hid without USB hotplug events (no libusb, discovery
      // off): always wanted; the runner retries the open with backoff until the device answers.
      else void runner.attach();
    }
    // Peripherals published by an earlier run that no longer exist: clear their retained state.
    for (const id of this.#published) if (!this.#runners.has(id)) bus.clearState(id);
    this.#savePublished();

    this.#started = true;
    if (config.devices.discovery.serialById) {
      const w = new SerialByIdWatcher(byIdDir, log);
      w.on('attach', (e) => this.#serialAttach(e));
      w.on('detach', (e) => this.#serialDetach(e));
      this.#serial = w;
      await w.start();
    }
    const usb = this.#ctx.usb;
    if (usb && config.devices.discovery.usb) {
      this.#onUsbAttach = (d) => this.#usbAttach(d);
      this.#onUsbDetach = (d) => this.#usbDetach(d);
      usb.on('attach', this.#onUsbAttach);
      usb.on('detach', this.#onUsbDetach);
      for (const d of usb.list()) this.#usbAttach(d);
    }
    log.info({ peripherals: [...this.#runners.keys()] }, 'devices host started');
  }

  async stop(): Promise<void> {
    this.#started = false;
    this.#serial?.stop();
    if (this.#ctx.usb && this.#onUsbAttach && this.#onUsbDetach) {
      this.#ctx.usb.off('attach', this.#onUsbAttach);
      this.#ctx.usb.off('detach', this.#onUsbDetach);
    }
    await Promise.all([...this.#runners.values()].map((r) => r.dispose()));
    await Promise.all([...this.#printers.values()].map((p) => p.stop()));
  }

  // ------------------------------------------------------------ peripherals

  async #addPrinterService(spec: PeripheralSpec): Promise<void> {
    const { config, log, bus } = this.#ctx;
    const r = config.devices.receipt;
    const service = new PrinterService({
      spec,
      queueDir: join(this.#ctx.dataDir, 'print'),
      resolveSale: (id) => this.#ctx.sales.get(id),
      receipt: { store: { name: config.store.name, lines: r.lines, footer: r.footer }, saleCode: r.saleCode },
      log: log.child({ peripheral: spec.id }),
      publish: (event, payload) => bus.publishEvent(spec.id, event, payload),
    });
    this.#printers.set(spec.id, service);
    await service.start();
  }

  #addRunner(spec: PeripheralSpec): PeripheralRunner {
    const existing = this.#runners.get(spec.id);
    if (existing) return existing;
    const factory: DriverFactory = (s, hooks) => {
      const f = this.#factories[s.kind];
      if (!f) throw new Error(`no driver for ${s.kind} peripherals in this build`);
      return f(s, hooks);
    };
    const sink: StateSink = {
      setState: (state: PeripheralState) => {
        this.#ctx.bus.setState(state);
        if (state.kind === 'printer') this.#refreshDrawers(state.id);
      },
      publishEvent: (id, event, payload) => this.#ctx.bus.publishEvent(id, event, payload),
    };
    const runner = new PeripheralRunner({
      spec,
      factory,
      sink,
      log: this.#ctx.log.child({ peripheral: spec.id }),
      ...(this.#ctx.backoff ? { minBackoffMs: this.#ctx.backoff.minMs, maxBackoffMs: this.#ctx.backoff.maxMs } : {}),
    });
    this.#runners.set(spec.id, runner);
    sink.setState(runner.state);
    if (!this.#published.has(spec.id)) {
      this.#published.add(spec.id);
      if (this.#started) this.#savePublished();
    }
    return runner;
  }

  #refreshDrawers(printerId: string): void {
    for (const r of this.#runners.values()) {
      if (r.spec.kind === 'drawer' && r.spec.options.printer === printerId) r.refresh();
    }
  }

  #serialAttach(e: SerialEntry): void {
    let id = this.#byIdBindings.get(e.name);
    if (!id) {
      const match = lookup({ byId: e.name });
      if (!match || match.kind === 'serial-bridge') {
        this.#ctx.log.info({ byId: e.name }, 'serial device without a config entry or a table match; ignored (add it to peripherals)');
        return;
      }
      id = discoveredId(match.kind, e.name);
      const spec: PeripheralSpec = { id, kind: match.kind, uri: `serial://${e.path}`, protocol: match.protocol, source: 'discovered', options: { ...match.options }, serialNumber: e.name };
      if (match.vendor) spec.vendor = match.vendor;
      if (match.model) spec.model = match.model;
      this.#byIdBindings.set(e.name, id);
      if (spec.kind === 'printer') {
        // A discovered printer gets a queue too; started before its runner attaches.
        void this.#addPrinterService(spec).then(() => this.#addRunner(spec).attach());
        return;
      }
      this.#addRunner(spec);
    }
    void this.#runners.get(id)?.attach();
  }

  #serialDetach(e: SerialEntry): void {
    const id = this.#byIdBindings.get(e.name);
    if (id) void this.#runners.get(id)?.detach('unplugged');
  }

  #usbAttach(d: UsbDeviceInfo): void {
    const key = usbIdentity(d);
    let id = this.#usbBindings.get(key) ?? this.#usbBindings.get(usbKeyNoSerial(d));
    if (!id) {
      const match = lookup({ usb: d });
      if (!match || match.kind === 'serial-bridge') {
        this.#ctx.log.debug({ usb: key, match: match?.entry }, 'USB device: serial bridge or unknown, binds through /dev/serial/by-id if at all');
        return;
      }
      id = discoveredId(match.kind, key);
      const spec: PeripheralSpec = {
        id,
        kind: match.kind,
        uri: usbUri(d, match.protocol === 'hid-pos' ? 'hid' : 'usb'),
        protocol: match.protocol,
        source: 'discovered',
        options: { ...match.options },
      };
      if (match.vendor) spec.vendor = match.vendor;
      if (match.model) spec.model = match.model;
      if (d.serialNumber) spec.serialNumber = d.serialNumber;
      this.#usbBindings.set(key, id);
      if (spec.kind === 'printer') {
        void this.#addPrinterService(spec).then(() => this.#addRunner(spec).attach());
        return;
      }
      this.#addRunner(spec);
    }
    void this.#runners.get(id)?.attach();
  }

  #usbDetach(d: UsbDeviceInfo): void {
    const id = this.#usbBindings.get(usbIdentity(d)) ?? this.#usbBindings.get(usbKeyNoSerial(d));
    if (id) void this.#runners.get(id)?.detach('unplugged');
  }

  #savePublished(): void {
    // crash-safe, not durable: it only lets the next start clear retained states of
    // peripherals that are gone; an older list after a power cut leaves one stale
    // state, which consumers ignore anyway unless the host is online (contract/devices-host.ts).
    try {
      writeFileAtomicSync(this.#publishedFile, JSON.stringify([...this.#runners.keys()]) + '\n', { durability: 'crash-safe', mode: 0o644 });
    } catch (err) {
      this.#ctx.log.warn({ err }, 'cannot record the published peripheral list');
    }
  }

  // ------------------------------------------------------------ commands and POS events

  async #command(cmd: IncomingCommand): Promise<CommandResult> {
    const runner = this.#runners.get(cmd.peripheralId);
    if (!runner) return { status: 'error', error: { code: DeviceErrorCode.Unknown, message: `no peripheral ${JSON.stringify(cmd.peripheralId)} on this box` } };
    try {
      // Print jobs queue durably even while the printer is unplugged or offline.
      const service = this.#printers.get(cmd.peripheralId);
      if (service && cmd.command === 'print') return await service.print(cmd.args, cmd.correlation);
      return await runner.command(cmd.command, cmd.args, cmd.correlation);
    } catch (err) {
      return { status: 'error', error: toCommandError(err) };
    }
  }

  /**
   * A box waiting for enrolment approval shows its pairing code on the receipt
   * printer, once per code (remembered in the data dir), so the installer does
   * not need a terminal at the counter.
   */
  async #boxStatus(status: unknown): Promise<void> {
    const code = (status as { identity?: { state?: string; pairingCode?: unknown } })?.identity?.pairingCode;
    if (typeof code !== 'string' || !PAIRING_CODE_PATTERN.test(code)) return;
    const file = join(this.#ctx.dataDir, 'pairing-printed.json');
    if (readJson<string>(file) === code) return;
    const printerId = this.#ctx.config.devices.autoPrint.printer ?? [...this.#printers.keys()][0];
    const service = printerId ? this.#printers.get(printerId) : undefined;
    if (!service) return;
    const reply = await service.print({ raw: service.pairingSlip(code).toString('base64') }, `pairing-${code}`);
    if (reply.status !== 'ok') {
      this.#ctx.log.warn({ code, error: reply.error }, 'cannot print the pairing code');
      return;
    }
    this.#ctx.log.info({ pairingCode: code, printer: printerId }, 'pairing code printed');
    // crash-safe: at worst a power cut prints the slip once more.
    writeFileAtomicSync(file, JSON.stringify(code) + '\n', { durability: 'crash-safe', mode: 0o644 });
  }

  async #posEvent(type: string, event: unknown): Promise<void> {
    if (type !== 'sale') return;
    const e = event as { id?: unknown; recordedAt?: unknown; payload?: unknown };
    if (typeof e?.id !== 'string' || typeof e.payload !== 'object' || e.payload === null) return;
    const sale = this.#ctx.sales.remember(e as { id: string; recordedAt?: string; payload: unknown });
    const auto = this.#ctx.config.devices.autoPrint;
    if (!auto.enabled) return;
    const printerId = auto.printer ?? [...this.#printers.keys()][0];
    const service = printerId ? this.#printers.get(printerId) : undefined;
    if (!service) return;
    const at = typeof e.recordedAt === 'string' ? Date.parse(e.recordedAt) : NaN;
    if (Number.isFinite(at) && Date.now() - at > auto.maxAgeMinutes * 60_000) {
      this.#ctx.log.info({ saleId: e.id }, 'sale older than autoPrint.maxAgeMinutes; not auto-printed (reprint with cmd/print)');
      return;
    }
    const cash = sale.tenders?.some((t) => t.type === 'cash') ?? false;
    // Durable before the broker gets our PUBACK: a crash here means redelivery, and the key dedupes it.
    await service.autoPrint(e.id, auto.kickDrawerOnCash && cash);
  }
}

/** A configured usb://vid:pid without a serial number takes any device with those ids. */
function usbKeyNoSerial(d: UsbDeviceInfo): string {
  return `${hex4(d.vendorId)}:${hex4(d.productId)}`;
}

type Binding = { type: 'by-id'; name: string } | { type: 'usb'; key: string } | undefined;

/** Which hotplug event a configured peripheral follows. */
export function bindingOf(spec: PeripheralSpec, byIdDir: string): Binding {
  let u: ReturnType<typeof parseUri>;
  try {
    u = parseUri(spec.uri);
  } catch {
    return undefined;
  }
  if (u.scheme === 'serial' && u.path.startsWith(byIdDir.replace(/\/$/, '') + '/')) return { type: 'by-id', name: u.path.slice(byIdDir.replace(/\/$/, '').length + 1) };
  if (u.scheme === 'usb' || u.scheme === 'hid') {
    const d: UsbDeviceInfo = { vendorId: u.vendorId, productId: u.productId };
    if (u.serialNumber) d.serialNumber = u.serialNumber;
    return { type: 'usb', key: u.serialNumber ? usbIdentity(d) : usbKeyNoSerial(d) };
  }
  return undefined;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
