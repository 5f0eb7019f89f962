// The devices process: finds core (runtime.json in the shared state dir),
// logs in to its broker with the `devices` account from the secrets file,
// and runs the host. Its crash never stops selling: core does not depend on
// it, and with a persistent MQTT session the sales it missed are delivered
// (and auto-printed once) when it is back.
import { DeviceErrorCode } from '../../contract/errors.ts';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff } from '../../lib/backoff.ts';
import type { BindingInterface } from '@serialport/bindings-cpp';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log.ts';
import { namespaced } from '../log.ts';
import { isAlive, readRuntime, type RuntimeInfo } from '../core/runtime.ts';
import { readDevicesSecrets } from '../secrets/secrets.ts';
import { credentialFile, statePaths } from '../state/state-dir.ts';
import { DeviceBus, type Endpoint, type CommandHandler } from './bus.ts';
import { assertPeripherals } from './config.ts';
import { startDemoSimulators, type DemoSimulators } from './demo.ts';
import { DevicesHost, type BusPort } from './host.ts';
import { createLibusbSource, type UsbEventSource } from './hotplug.ts';
import { SaleSource } from './sales.ts';
import { DEMO_VARIABLE_MEASURE } from '../pos/demo-catalog.ts';
import { lazyWebUsbPrinterBinding, nodeHidBinding, type TransportBindings } from '../../drivers/transports/index.ts';

export interface DevicesProcessContext {
  config: Config;
  stateDir: string;
  log: Logger;
  /** Give up waiting for core after this long (default: wait forever, as under systemd). */
  waitForCoreMs?: number;
  /** Receipt text of the demo printer (default stdout). */
  printDemo?: (text: string) => void;
  /** Tests inject these; production loads libusb and the native serial binding. */
  usb?: UsbEventSource | null;
  serialByIdDir?: string;
  clientId?: string;
  /**
   * Transport bindings (hid, usb, serial, connect). Tests inject simulator
   * bindings here; production defaults: node-hid and node-usb's WebUSB
   * printer binding, both loaded on first use.
   */
  bindings?: TransportBindings;
}

export class DevicesProcess {
  readonly #ctx: DevicesProcessContext;
  #bus: DeviceBus | undefined;
  #host: DevicesHost | undefined;
  #demo: DemoSimulators | undefined;
  #usb: UsbEventSource | undefined;
  #runtime: RuntimeInfo | undefined;

  constructor(ctx: DevicesProcessContext) {
    this.#ctx = ctx;
  }

  get host(): DevicesHost | undefined {
    return this.#host;
  }
  get bus(): DeviceBus | undefined {
    return this.#bus;
  }
  get demo(): DemoSimulators | undefined {
    return this.#demo;
  }
  get storeId(): string | undefined {
    return this.#runtime?.storeId;
  }

  async start(): Promise<void> {
    const { config, stateDir, log } = this.#ctx;
    assertPeripherals(config.peripherals);
    const paths = statePaths(stateDir);
    const rt = await this.#waitForCore(paths.runtime);
    this.#runtime = rt;
    // Its own secrets only (core writes them at every start), not core's secrets.json.
    const secrets = readDevicesSecrets(credentialFile(paths.devicesSecrets));
    const account = secrets.mqtt;
    const till = secrets.till;

    let last: Endpoint = rt.mqtt.tcp!;
    const endpoint = (): Endpoint => {
      const now = readRuntime(paths.runtime);
      if (now?.mqtt.tcp && isAlive(now.pid)) {
        this.#runtime = now;
        last = now.mqtt.tcp;
      }
      return last;
    };
    const bus = new DeviceBus({ storeId: rt.storeId, endpoint, username: account.username, password: account.password, clientId: this.#ctx.clientId ?? 'devices', log: namespaced(log, 'device-bus') });
    this.#bus = bus;

    let peripherals = config.peripherals;
    if (config.demo && config.devices.demoSimulators) {
      this.#demo = await startDemoSimulators({ log: namespaced(log, 'demo'), ...(this.#ctx.printDemo ? { print: this.#ctx.printDemo } : {}) });
      const configured = new Set(peripherals.map((p) => p.id));
      peripherals = [...peripherals, ...this.#demo.peripherals.filter((p) => !configured.has(p.id))];
    }
    const sales = new SaleSource({
      baseUrl: () => {
        const r = this.#runtime;
        return r ? `http://${r.http.host === '0.0.0.0' ? '127.0.0.1' : r.http.host}:${r.http.port}` : undefined;
      },
      ...(till ? { token: till.token } : {}),
      log,
    });
    if (this.#ctx.usb !== null) this.#usb = this.#ctx.usb ?? (await createLibusbSource(log));
    let serialBinding: (() => BindingInterface) | undefined;
    if (this.#ctx.bindings?.serial) {
      const injected = this.#ctx.bindings.serial;
      serialBinding = () => injected;
    } else {
      try {
        const { autoDetect } = await import('@serialport/bindings-cpp');
        const binding = autoDetect();
        serialBinding = () => binding;
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'serial binding unavailable; serial peripherals cannot start');
      }
    }
    // Demo: the demo catalog's variable-measure layouts, so scanned labels carry their price/weight.
    const devicesConfig = config.demo && config.devices.variableMeasure.length === 0 ? { ...config.devices, variableMeasure: DEMO_VARIABLE_MEASURE.map((l) => ({ ...l })) } : config.devices;
    this.#host = new DevicesHost({
      config: { ...config, peripherals, devices: devicesConfig },
      bus: this.#demoCommands(bus),
      dataDir: join(stateDir, 'devices'),
      sales,
      log: namespaced(log, 'devices'),
      ...(serialBinding ? { serialBinding } : {}),
      bindings: { hid: nodeHidBinding(), usb: lazyWebUsbPrinterBinding(), ...this.#ctx.bindings },
      ...(this.#usb ? { usb: this.#usb } : {}),
      ...(this.#ctx.serialByIdDir ? { serialByIdDir: this.#ctx.serialByIdDir } : {}),
    });
    await this.#host.start();
    await bus.start();
  }

  /**
   * In demo mode scanner-1 takes `cmd/simulate { code }` (the simulator "reads"
   * that code) and scale-1 takes `cmd/simulate { grams?, state? }`.
   */
  #demoCommands(bus: DeviceBus): BusPort {
    const demo = this.#demo;
    if (!demo) return bus;
    return {
      setState: (s) => bus.setState(s),
      clearState: (id) => bus.clearState(id),
      publishEvent: (id, e, p) => bus.publishEvent(id, e, p),
      setPeripheralList: (fn) => bus.setPeripheralList(fn),
      onPosEvent: (h) => bus.onPosEvent(h),
      onBoxStatus: (h) => bus.onBoxStatus(h),
      onCommand: (handler: CommandHandler) =>
        bus.onCommand(async (cmd) => {
          if (cmd.peripheralId === 'scanner-1' && cmd.command === 'simulate') {
            const code = (cmd.args as { code?: unknown } | undefined)?.code;
            if (typeof code !== 'string' || code.length === 0 || code.length > 200 || /[\r\n]/.test(code))
              return { status: 'error', error: { code: DeviceErrorCode.CommandInvalid, message: 'args.code must be a non-empty string without line breaks' } };
            demo.scan(code);
            return { status: 'ok' };
          }
          if (cmd.peripheralId === 'scale-1' && cmd.command === 'simulate') {
            const a = (cmd.args ?? {}) as { grams?: unknown; state?: unknown };
            const states = ['stable', 'motion', 'overload', 'underzero'] as const;
            const okGrams = a.grams === undefined || (Number.isInteger(a.grams) && (a.grams as number) >= 0 && (a.grams as number) <= 1_000_000);
            const state = states.find((s) => s === a.state);
            if (!okGrams || (a.state !== undefined && !state))
              return { status: 'error', error: { code: DeviceErrorCode.CommandInvalid, message: `args: { grams?: integer 0..1000000, state?: ${states.join('|')} }` } };
            demo.weigh({ ...(a.grams !== undefined ? { grams: a.grams as number } : {}), ...(state ? { state } : {}) });
            return { status: 'ok' };
          }
          return handler(cmd);
        }),
    };
  }

  async #waitForCore(file: string): Promise<RuntimeInfo> {
    const t0 = Date.now();
    const backoff = new Backoff({ baseMs: 100, maxMs: 2000, floorMs: 100 });
    let said = false;
    for (;;) {
      const rt = readRuntime(file);
      if (rt?.mqtt.tcp && isAlive(rt.pid)) return rt;
      if (!said) {
        this.#ctx.log.info({ runtime: file }, 'waiting for core (runtime.json) ...');
        said = true;
      }
      if (this.#ctx.waitForCoreMs !== undefined && Date.now() - t0 > this.#ctx.waitForCoreMs) throw new Error(`core is not running (no live ${file} after ${this.#ctx.waitForCoreMs} ms)`);
      await sleep(backoff.next());
    }
  }

  async stop(reason?: string): Promise<void> {
    await this.#host?.stop().catch((err: unknown) => this.#ctx.log.warn({ err }, 'host stop failed'));
    await this.#bus?.stop(reason);
    this.#usb?.close();
    await this.#demo?.stop();
  }
}
