// Helpers for the devices scenario tests: an MQTT observer on a real box and
// a devices process in this test process (or as a child).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { readRuntime } from '../../appliance/core/runtime.ts';
import { readSecrets } from '../../appliance/secrets/secrets.ts';
import { statePaths } from '../../appliance/state/state-dir.ts';
import { validateConfig } from '../../appliance/config/index.ts';
import { silentLogger } from '../../appliance/log.ts';
import { DevicesProcess } from '../../appliance/devices/process.ts';
import type { TransportBindings } from '../../drivers/transports/index.ts';

export interface Observed {
  topic: string;
  payload: string;
  retain: boolean;
  json<T = any>(): T;
}

/** An admin MQTT client that records everything under store/{s}/devices/# and can wait for a message. */
export class Observer {
  readonly client: MqttClient;
  readonly messages: Observed[] = [];
  readonly #waiters = new Set<{ pred: (m: Observed) => boolean; resolve: (m: Observed) => void }>();

  private constructor(client: MqttClient) {
    this.client = client;
    client.on('message', (topic, payload, packet) => {
      const m: Observed = { topic, payload: payload.toString(), retain: packet.retain, json: () => JSON.parse(payload.toString()) };
      this.messages.push(m);
      for (const w of [...this.#waiters]) {
        let hit = false;
        try {
          hit = w.pred(m);
        } catch {
          hit = false;
        }
        if (hit) {
          this.#waiters.delete(w);
          w.resolve(m);
        }
      }
    });
  }

  static async connect(stateDir: string, filter: string, clientId = `admin-obs-${process.pid}-${Math.random().toString(16).slice(2, 8)}`): Promise<Observer> {
    const rt = readRuntime(statePaths(stateDir).runtime)!;
    const admin = readSecrets(statePaths(stateDir).secrets).mqtt.find((a) => a.role === 'admin')!;
    const client = await mqtt.connectAsync({
      host: rt.mqtt.tcp!.host,
      port: rt.mqtt.tcp!.port,
      username: admin.username,
      password: admin.password,
      clientId,
      protocolVersion: 4,
      reconnectPeriod: 200,
    });
    const o = new Observer(client);
    await client.subscribeAsync(filter, { qos: 1 });
    return o;
  }

  /** Resolves with the first message (already seen or future) matching. `since` skips earlier ones. */
  wait(pred: (m: Observed) => boolean, since = 0): Promise<Observed> {
    const seen = this.messages.slice(since).find((m) => {
      try {
        return pred(m);
      } catch {
        return false;
      }
    });
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.add({ pred, resolve }));
  }

  mark(): number {
    return this.messages.length;
  }

  async command(topic: string, body: unknown): Promise<Observed> {
    const correlation = (body as { correlation?: string }).correlation;
    const since = this.mark();
    await this.client.publishAsync(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
    return this.wait((m) => m.topic === `${topic}/reply` && (correlation === undefined || m.json().correlation === correlation), since);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export function isState(id: string, state: string) {
  return (m: Observed) => m.topic.endsWith(`/devices/${id}/state`) && m.payload !== '' && m.json().state === state;
}

export async function startDevices(
  stateDir: string,
  opts: { demo?: boolean; config?: Record<string, unknown>; serialByIdDir?: string; printDemo?: (t: string) => void; bindings?: TransportBindings } = {},
): Promise<DevicesProcess> {
  const config = validateConfig({ version: 1, demo: opts.demo ?? true, ...opts.config });
  const p = new DevicesProcess({
    config,
    stateDir,
    log: silentLogger(),
    usb: null,
    serialByIdDir: opts.serialByIdDir ?? join(mkdtempSync(join(tmpdir(), 'tillbox-byid-')), 'by-id'),
    waitForCoreMs: 30_000,
    printDemo: opts.printDemo ?? (() => {}),
    ...(opts.bindings ? { bindings: opts.bindings } : {}),
  });
  await p.start();
  return p;
}
