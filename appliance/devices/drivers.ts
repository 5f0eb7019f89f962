// Peripheral kinds → driver handles for the runner. Each adapter turns a
// driver from drivers/ into start/stop/command plus events, nothing more:
// protocol logic stays in drivers/.
import { DeviceErrorCode } from '../../contract/errors.ts';
import { join } from 'node:path';
import { compileSchema, describeErrors } from '../../lib/validate.ts';
import { PrintArgs, type PrintResult } from '../../contract/devices/printer.ts';
import { DrawerOpenArgs } from '../../contract/devices/drawer.ts';
import { ScannerDriver, type ScannerMode } from '../../drivers/scanner/scanner.ts';
import { EscPosPrinter, type PrinterPort, type PrintOutcome } from '../../drivers/printer/printer.ts';
import { PrintQueue, type PrintQueueContext } from '../../drivers/printer/queue.ts';
import { findModel, MODELS, type PrinterModel } from '../../drivers/printer/models.ts';
import { renderPairingSlip } from '../../drivers/printer/receipt.ts';
import { createTransport as buildTransport, TransportError, TransportErrorCode, type Transport, type TransportBindings } from '../../drivers/transports/index.ts';
import { parseUri, type Framing } from '../../drivers/transports/uri.ts';
import { ScaleDriver, probeScale, getScaleProtocol, type ProbeCandidate } from '../../drivers/scale/scale.ts';
import { SCALE_PROTOCOLS, type ScaleProtocolName } from '../../drivers/scale/types.ts';
import type { WeightReading } from '../../contract/devices/scale.ts';
import type { VariableMeasureLayout } from '../../contract/devices/scanner.ts';
import type { KeyboardWedgeOptions } from '../../drivers/scanner/decoders.ts';
import type { Logger } from '../log.ts';
import type { CommandResult } from './bus.ts';
import { errorText, type DriverFactory, type DriverHandle, type DriverHooks, type PeripheralSpec } from './runner.ts';

export interface TransportDeps {
  /**
   * Bindings per transport, injected (never global, STYLE.md item 1):
   * production gives bindings-cpp, node-hid and node-usb; tests and the demo
   * give simulator-backed ones (pty, HidPlaybackBinding, fake USB devices).
   */
  bindings: TransportBindings;
  log: Logger;
}

/**
 * Builds the transport a URI names through the one factory in
 * drivers/transports (serial, tcp, usb printer class, hid, file). Throws a
 * TransportError when this box has no binding for the scheme.
 */
export function createTransport(uri: string, deps: TransportDeps, serialOverride?: { baudRate: number; framing: Framing }): Transport {
  return buildTransport(uri, { bindings: deps.bindings, logger: deps.log, ...(serialOverride ? { serialOverride } : {}) });
}

const ok = (data?: unknown): CommandResult => (data === undefined ? { status: 'ok' } : { status: 'ok', data });
const invalid = (message: string): CommandResult => ({ status: 'error', error: { code: DeviceErrorCode.CommandInvalid, message } });
const unknown = (spec: PeripheralSpec, name: string): CommandResult => ({
  status: 'error',
  error: { code: DeviceErrorCode.CommandUnknown, message: `${spec.kind} ${spec.id} has no command ${JSON.stringify(name)}` },
});

const checkPrintArgs = compileSchema(PrintArgs);
const checkDrawerArgs = compileSchema(DrawerOpenArgs);

function firstError(check: { errors?: Parameters<typeof describeErrors>[0] }): string {
  return `args: ${describeErrors(check.errors)}`;
}

// ------------------------------------------------------------ scanner

export interface ScannerSettings {
  variableMeasure?: readonly VariableMeasureLayout[];
  /** Keyboard-wedge scanners: the keyboard country the scanner emulates (config devices.keyboardLayout). */
  keyboardLayout?: string;
}

export function scannerFactory(deps: TransportDeps, settings: ScannerSettings = {}): DriverFactory {
  return (spec, hooks) => {
    const transport = createTransport(spec.uri, deps);
    const mode = (spec.options.mode as ScannerMode | undefined) ?? (transport.kind === 'hid' ? 'hid-pos' : 'serial');
    const parse = settings.variableMeasure ? { variableMeasure: settings.variableMeasure } : undefined;
    const keyboard: KeyboardWedgeOptions | undefined = settings.keyboardLayout ? { layout: settings.keyboardLayout } : undefined;
    const driver = new ScannerDriver({ transport, mode, logger: deps.log, ...(parse ? { parse } : {}), ...(keyboard ? { keyboard } : {}) });
    driver.on('scan', (payload) => hooks.event('scan', payload));
    driver.on('error', () => {}); // rejected input is logged by the driver; never fatal
    driver.on('close', (info) => {
      if (info.disconnected) hooks.down(info.error ? `disconnected: ${info.error.message}` : 'disconnected', info.error);
    });
    return {
      start: () => driver.start(),
      stop: () => driver.stop().catch(() => {}),
      async command(name) {
        return unknown(spec, name);
      },
    };
  };
}

// ------------------------------------------------------------ scale

export interface ScaleSettings {
  /** Pause between polls (default: the driver's, 200 ms). Tests shorten it. */
  pollIntervalMs?: number;
  /** Answer timeout per request while probing `auto` (default 400 ms). */
  probeTimeoutMs?: number;
}

/**
 * A serial (or tcp-bridged) scale: `protocol` sics | toledo8217 | cas | nci,
 * or `auto` (the default) which probes them in turn with each protocol's
 * line settings and keeps the first that answers. Publishes .../weight on
 * change (contract/devices/scale.ts WeightReading); answers cmd/zero,
 * cmd/tare (an error naming the protocol when it has no such command) and
 * cmd/status ({ protocol, reading, supports }).
 */
export function scaleFactory(deps: TransportDeps, settings: ScaleSettings = {}): DriverFactory {
  return (spec, hooks) => {
    const wanted = spec.protocol ?? 'auto';
    if (wanted !== 'auto') getScaleProtocol(wanted); // unknown protocol: the runner reports it as error state
    const serial = parseUri(spec.uri).scheme === 'serial';
    const log = deps.log.child({ peripheral: spec.id });
    let driver: ScaleDriver | undefined;
    let protocol: ScaleProtocolName | undefined = wanted === 'auto' ? undefined : (wanted as ScaleProtocolName);
    let stopped = false;

    const offline = (): CommandResult => ({ status: 'error', error: { code: DeviceErrorCode.Offline, message: `scale ${spec.id} is not connected`, retryable: true } });
    const failed = (err: unknown): CommandResult => {
      const e = err as { code?: unknown; retryable?: unknown };
      const out: CommandResult = { status: 'error', error: { code: typeof e?.code === 'string' ? e.code : DeviceErrorCode.CommandFailed, message: errorText(err) } };
      if (typeof e?.retryable === 'boolean') out.error.retryable = e.retryable;
      return out;
    };

    return {
      async start() {
        stopped = false;
        let line: ProbeCandidate | undefined;
        if (!protocol) {
          // `auto`: each candidate gets a fresh transport at its protocol's line settings (serial only).
          const found = await probeScale(async (c) => createTransport(spec.uri, deps, serial ? { baudRate: c.baudRate, framing: c.framing } : undefined), {
            logger: log,
            ...(settings.probeTimeoutMs !== undefined ? { timeoutMs: settings.probeTimeoutMs } : {}),
          });
          if (!found) throw new Error(`no scale answered on ${spec.uri} (auto tried ${SCALE_PROTOCOLS.join(', ')}); set "protocol" and check the cable, baud rate and framing`);
          line = found.candidate;
          protocol = found.candidate.protocol;
          log.info({ protocol, baudRate: line.baudRate }, 'scale protocol detected');
        } else if (serial && !/[?&](baud|framing)=/.test(spec.uri)) {
          // A configured protocol without explicit line settings uses the protocol's own defaults (8217/NCI: 7E1).
          line = { protocol, ...getScaleProtocol(protocol).defaults };
        }
        if (stopped) return;
        const transport = createTransport(spec.uri, deps, serial && line ? { baudRate: line.baudRate, framing: line.framing } : undefined);
        const d = new ScaleDriver({ transport, protocol, logger: log, ...(settings.pollIntervalMs !== undefined ? { pollIntervalMs: settings.pollIntervalMs } : {}) });
        d.on('weight', (r: WeightReading) => hooks.event('weight', r));
        d.on('error', () => {}); // poll problems are logged by the driver (once per change)
        d.on('close', (info) => {
          if (info.disconnected) hooks.down(info.error ? `disconnected: ${info.error.message}` : 'disconnected', info.error);
        });
        driver = d;
        await d.start();
      },
      async stop() {
        stopped = true;
        const d = driver;
        driver = undefined;
        if (!d) return;
        await d.stop().catch(() => {});
        d.removeAllListeners();
        // `auto` probes again after a replug: another scale may sit on that port now.
        if (wanted === 'auto') protocol = undefined;
      },
      async command(name) {
        const d = driver;
        if (name === 'status') {
          return ok({ activeProtocol: protocol ?? null, reading: d?.lastReading ?? null, supports: protocol ? getScaleProtocol(protocol).supports : null });
        }
        if (name !== 'zero' && name !== 'tare') return unknown(spec, name);
        if (!d) return offline();
        try {
          await (name === 'zero' ? d.zero() : d.tare());
          // The next poll publishes the new weight; the reply carries a fresh reading too.
          const reading = await d.read().catch(() => undefined);
          return ok(reading ? { [name === 'zero' ? 'zeroed' : 'tared']: true, reading } : { [name === 'zero' ? 'zeroed' : 'tared']: true });
        } catch (err) {
          return failed(err); // ScaleError codes: TB_SCALE_UNSUPPORTED, _REFUSED (in motion), _TIMEOUT ...
        }
      },
    };
  };
}

// ------------------------------------------------------------ printer

/**
 * The print queue outlives driver instances (unplug, restart): it talks to
 * whichever EscPosPrinter is current through this socket, and waits while
 * there is none.
 */
export class PrinterSocket implements PrinterPort {
  readonly model: PrinterModel;
  #printer: EscPosPrinter | undefined;
  #generation = 0;
  #swapWaiters = new Set<() => void>();

  constructor(model: PrinterModel) {
    this.model = model;
  }

  get current(): EscPosPrinter | undefined {
    return this.#printer;
  }
  get connected(): boolean {
    return this.#printer?.connected ?? false;
  }
  get ready(): boolean {
    return this.#printer?.ready ?? false;
  }
  get connectionId(): number {
    return this.#generation * 1_000_000 + (this.#printer?.connectionId ?? 0);
  }

  set(printer: EscPosPrinter | undefined): void {
    this.#printer = printer;
    this.#generation++;
    for (const w of [...this.#swapWaiters]) w();
  }

  async #wait(which: 'waitConnected' | 'waitReady', signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      const p = this.#printer;
      const swapped = new AbortController();
      const onSwap = () => swapped.abort(new Error('printer replaced'));
      const onAbort = () => swapped.abort(signal?.reason);
      this.#swapWaiters.add(onSwap);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        if (p) {
          await p[which](swapped.signal);
          return;
        }
        await new Promise<void>((resolve) => swapped.signal.addEventListener('abort', () => resolve(), { once: true }));
      } catch (err) {
        if (signal?.aborted) throw err;
        // replaced: look at the new one
      } finally {
        this.#swapWaiters.delete(onSwap);
        signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  waitConnected(signal?: AbortSignal): Promise<void> {
    return this.#wait('waitConnected', signal);
  }
  waitReady(signal?: AbortSignal): Promise<void> {
    return this.#wait('waitReady', signal);
  }
  print(data: Buffer, processId: string, opts?: { onWritten?: () => Promise<void> }): Promise<PrintOutcome> {
    const p = this.#printer;
    if (!p) return Promise.reject(new TransportError(TransportErrorCode.Disconnected, 'printer unplugged'));
    return p.print(data, processId, opts);
  }
  clearBuffers(): Promise<boolean> {
    const p = this.#printer;
    if (!p) return Promise.reject(new TransportError(TransportErrorCode.Disconnected, 'printer unplugged'));
    return p.clearBuffers();
  }
}

export function printerModelFor(spec: PeripheralSpec): PrinterModel {
  const id = (spec.options.model as string | undefined) ?? spec.model;
  return (id && findModel(id)) || MODELS['generic-80'];
}

export interface PrinterServiceContext {
  spec: PeripheralSpec;
  /** Parent of the per-printer queue directories. */
  queueDir: string;
  resolveSale: NonNullable<PrintQueueContext['resolveSale']>;
  receipt: PrintQueueContext['receipt'];
  log: Logger;
  /** Publish .../printed and .../status (works while the printer is unplugged too). */
  publish: (event: string, payload: unknown) => void;
}

/** One per printer peripheral for the life of the process: the socket and the persistent queue. */
export class PrinterService {
  readonly socket: PrinterSocket;
  readonly queue: PrintQueue;
  readonly #ctx: PrinterServiceContext;

  constructor(ctx: PrinterServiceContext) {
    this.#ctx = ctx;
    this.socket = new PrinterSocket(printerModelFor(ctx.spec));
    this.queue = new PrintQueue({
      dir: join(ctx.queueDir, ctx.spec.id),
      printer: this.socket,
      resolveSale: ctx.resolveSale,
      receipt: ctx.receipt,
      logger: ctx.log,
    });
  }

  async start(): Promise<void> {
    this.queue.on('result', (r: PrintResult) => this.#ctx.publish('printed', r));
    this.queue.on('error', (err) => this.#ctx.log.error({ err }, 'print queue error'));
    await this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    this.queue.removeAllListeners();
  }

  /** .../cmd/print: durably queued (the reply), printed later (.../printed). Works while unplugged. */
  async print(args: unknown, correlation: string): Promise<CommandResult> {
    if (!checkPrintArgs(args)) return invalid(`${firstError(checkPrintArgs)} (expected { saleId } | { raw } | { ticket })`);
    const r = await this.queue.enqueue(args, { key: `cmd:${correlation}` });
    return ok(r);
  }

  /** The pairing slip (renderPairingSlip) for this printer's model, as ESC/POS bytes. */
  pairingSlip(code: string): Buffer {
    return renderPairingSlip(this.socket.model, code, ['Approve this box at HQ:', `tillbox-hq pairing approve ${code} --store STORE`]);
  }

  /** Auto-print: one job per sale, whatever number of times the sale event is delivered. */
  autoPrint(saleId: string, kickDrawer: boolean): Promise<unknown> {
    return this.queue.enqueue(kickDrawer ? { saleId, kickDrawer: true } : { saleId }, { key: `sale:${saleId}` });
  }

  queued(): number {
    return this.queue.pending().length;
  }
}

export function printerFactory(deps: TransportDeps, services: Map<string, PrinterService>): DriverFactory {
  return (spec, hooks) => {
    const service = services.get(spec.id);
    if (!service) throw new Error(`no print service for ${spec.id}`);
    const transport = createTransport(spec.uri, deps);
    const printer = new EscPosPrinter({ transport, model: service.socket.model, logger: deps.log });
    printer.on('state', ({ state, reason }) => hooks.state(state, reason));
    printer.on('status', (status) => hooks.event('status', { ...status, queued: service.queued() }));
    printer.on('error', (err) => deps.log.warn({ err, peripheral: spec.id }, 'printer error'));
    const handle: DriverHandle = {
      selfState: true,
      async start() {
        service.socket.set(printer);
        printer.start();
      },
      async stop() {
        if (service.socket.current === printer) service.socket.set(undefined);
        await printer.stop();
        printer.removeAllListeners();
      },
      async command(name, args) {
        if (name === 'open') return kick(printer, args);
        if (name === 'status') return ok({ printer: printer.status ?? null, queued: service.queued() });
        return unknown(spec, name);
      },
    };
    return handle;
  };
}

async function kick(printer: EscPosPrinter, args: unknown): Promise<CommandResult> {
  const a = args ?? {};
  if (!checkDrawerArgs(a)) return invalid(firstError(checkDrawerArgs));
  if (!printer.connected) return { status: 'error', error: { code: DeviceErrorCode.Offline, message: 'printer not connected', retryable: true } };
  const opts: { pin?: 2 | 5; onMs?: number } = {};
  if (a.pin !== undefined) opts.pin = a.pin;
  if (a.pulseMs !== undefined) opts.onMs = a.pulseMs;
  await printer.kickDrawer(opts);
  const drawer = printer.status?.drawer ?? 'unknown';
  return ok({ pulsed: true, drawer });
}

// ------------------------------------------------------------ drawer on a printer's kick connector

/**
 * A cash drawer wired to a printer: `{ kind: drawer, printer: <printer id>, pin? }`.
 * Its state follows the printer's connection; `open` kicks through it.
 */
export function drawerFactory(printers: Map<string, PrinterService>, log: Logger): DriverFactory {
  return (spec, hooks: DriverHooks) => {
    const printerId = spec.options.printer as string | undefined;
    const service = printerId ? printers.get(printerId) : undefined;
    if (!service) throw new Error(`drawer ${spec.id}: printer ${JSON.stringify(printerId)} is not a configured printer`);
    let timer: NodeJS.Timeout | undefined;
    const follow = () => {
      const p = service.socket.current;
      hooks.state(p?.connected ? 'online' : 'off-offline', p?.connected ? undefined : `printer ${printerId} not connected`);
    };
    return {
      selfState: true,
      async start() {
        follow();
        // The printer socket has no events of its own; the host calls refresh() on printer state changes.
        timer = undefined;
      },
      async stop() {
        clearTimeout(timer);
      },
      refresh: follow,
      async command(name, args) {
        if (name !== 'open') return unknown(spec, name);
        const p = service.socket.current;
        if (!p) return { status: 'error', error: { code: DeviceErrorCode.Offline, message: `printer ${printerId} not connected`, retryable: true } };
        const a = (args ?? {}) as Record<string, unknown>;
        const withPin = a.pin === undefined && spec.options.pin !== undefined ? { ...a, pin: spec.options.pin } : a;
        try {
          return await kick(p, withPin);
        } catch (err) {
          log.warn({ err, peripheral: spec.id }, 'drawer kick failed');
          return { status: 'error', error: { code: DeviceErrorCode.CommandFailed, message: errorText(err), retryable: true } };
        }
      },
    };
  };
}
