// The devices process's MQTT client (role `devices`) on core's broker: the
// only way peripherals reach the rest of the box (DESIGN.md, "Topics").
//
// - Retained .../state per peripheral; the latest state of every peripheral is
//   kept here and republished after every (re)connect, so the broker always
//   ends up with the current picture even after core restarted.
// - Host status (contract/devices-host.ts) with an MQTT last will, so a crashed
//   devices process is visible and its peripherals' states read as stale.
// - Events (scan, weight, status, printed ...) as QoS 1, not retained.
// - Commands on .../cmd/{command}: envelope validated here, handed to one
//   handler, the reply published on `replyTo` (when the devices role may
//   publish there) or .../cmd/{command}/reply. A bad command gets an error
//   reply; nothing a client sends can throw out of this module.
// - POS events (store/{s}/pos/#) are handed to a handler and acknowledged
//   (PUBACK) only after it resolved: with a persistent session (clean=false)
//   a sale heard just before a crash is delivered again after the restart.
// - Reconnect with exponential backoff and full jitter; the endpoint is asked
//   again before every attempt (core may come back on another port).
import { DeviceErrorCode } from '../../contract/errors.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '../../lib/backoff.ts';
import { EventEmitter } from 'node:events';
import { createConnection } from 'node:net';
import { MqttClient, type IClientOptions, type IPublishPacket } from 'mqtt';
import { compileSchema, describeErrors } from '../../lib/validate.ts';
import { Type } from '@sinclair/typebox';
import { localTopics, isValidId, topicFilter, parseTopic } from '../../contract/topics.ts';
import { mayPublish } from '../../contract/roles.ts';
import { CommandRequest, type PeripheralState } from '../../contract/devices.ts';
import { hostStateTopic, HOST_PERIPHERAL_ID, type HostState } from '../../contract/devices-host.ts';
import type { Logger } from '../log.ts';

export interface Endpoint {
  host: string;
  port: number;
}

export interface CommandError {
  code: string;
  message: string;
  retryable?: boolean;
}

export type CommandResult = { status: 'ok'; data?: unknown } | { status: 'error'; error: CommandError };

export interface IncomingCommand {
  peripheralId: string;
  command: string;
  correlation: string;
  args: unknown;
}

export type CommandHandler = (cmd: IncomingCommand) => Promise<CommandResult>;
/** `event` is the parsed JSON of a POS event (a journal event). */
export type PosHandler = (eventType: string, event: unknown) => Promise<void>;
/** core's retained box status (contract/box-status.ts), as parsed JSON. */
export type BoxStatusHandler = (status: unknown) => Promise<void>;

export interface DeviceBusContext {
  storeId: string;
  /** Asked before every connection attempt. */
  endpoint: () => Endpoint;
  username: string;
  password: string;
  /** `devices` or `devices-...` (the broker binds client ids to the account). */
  clientId?: string;
  log: Logger;
  keepaliveSec?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A handler that does not answer in this time gets an error reply. Default 30 s. */
  commandTimeoutMs?: number;
  random?: () => number;
}

export interface DeviceBusEvents {
  connected: [];
  disconnected: [];
}

const Envelope = CommandRequest(Type.Unknown());
const MAX_COMMAND_BYTES = 512 * 1024;
const EARLY_EVENTS_MAX = 1000;

const checkEnvelope = compileSchema(Envelope);

/** How long stop() waits for the broker to confirm the offline states. */
const STOP_PUBLISH_MS = 1000;

export class DeviceBus extends EventEmitter<DeviceBusEvents> {
  readonly #ctx: DeviceBusContext;
  readonly #states = new Map<string, PeripheralState>();
  readonly #cleared = new Set<string>();
  readonly #recentReplies = new Map<string, CommandResult>();
  #client: MqttClient | undefined;
  #commandHandler: CommandHandler | undefined;
  #posHandler: PosHandler | undefined;
  #boxHandler: BoxStatusHandler | undefined;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;
  #everConnected = false;
  #peripheralIds: () => string[] = () => [...this.#states.keys()];
  /** Events published before start() made the client (a scan read while the bus comes up); bounded. */
  #early: Array<{ topic: string; payload: string }> = [];

  constructor(ctx: DeviceBusContext) {
    super();
    this.#ctx = ctx;
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  get storeId(): string {
    return this.#ctx.storeId;
  }

  onCommand(handler: CommandHandler): void {
    this.#commandHandler = handler;
  }

  onBoxStatus(handler: BoxStatusHandler): void {
    this.#boxHandler = handler;
  }

  onPosEvent(handler: PosHandler): void {
    this.#posHandler = handler;
  }

  /** Connects (and keeps reconnecting); resolves once the first connection is up. */
  start(): Promise<void> {
    const ctx = this.#ctx;
    const will: HostState = { state: 'lost', reason: 'devices process lost its connection (crash, kill or network)' };
    const options: IClientOptions = {
      clientId: ctx.clientId ?? 'devices',
      username: ctx.username,
      password: ctx.password,
      protocolVersion: 4,
      clean: false,
      keepalive: ctx.keepaliveSec ?? 15,
      reconnectPeriod: 0, // our own jittered backoff below
      connectTimeout: 10_000,
      resubscribe: true,
      manualConnect: true,
      will: { topic: hostStateTopic(ctx.storeId), payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
    };
    const client = new MqttClient(() => {
      const ep = ctx.endpoint();
      const socket = createConnection({ host: ep.host, port: ep.port });
      // Command replies and events are small packets sent right after a PUBACK:
      // with Nagle on they wait for the broker's delayed ACK (~40 ms a hop).
      socket.setNoDelay(true);
      return socket;
    }, options);
    this.#client = client;
    // PUBACK only after the handler finished (mqtt.js acks when this callback runs).
    client.handleMessage = (packet: IPublishPacket, callback: (err?: Error) => void) => {
      this.#message(packet).then(
        () => callback(),
        (err: unknown) => {
          ctx.log.error({ err, topic: packet.topic }, 'handling a message failed');
          callback();
        },
      );
    };
    client.on('error', (err) => ctx.log.warn({ err: err.message }, 'mqtt error'));
    client.on('close', () => {
      if (this.#everConnected && !this.#stopping) this.emit('disconnected');
      this.#scheduleReconnect();
    });
    const first = new Promise<void>((resolve) => this.once('connected', () => resolve()));
    client.on('connect', () => {
      this.#attempt = 0;
      this.#everConnected = true;
      void this.#onConnect().then(() => {
        // Births first, then what the peripherals said while we were still connecting.
        const early = this.#early;
        this.#early = [];
        for (const e of early) this.#publish(e.topic, e.payload, false);
        this.emit('connected');
      });
    });
    client.connect();
    return first;
  }

  #scheduleReconnect(): void {
    if (this.#stopping || this.#timer) return;
    const min = this.#ctx.minBackoffMs ?? 100;
    const max = this.#ctx.maxBackoffMs ?? 10_000;
    const delay = backoffDelay(this.#attempt++, { baseMs: min, maxMs: max, floorMs: min, ...(this.#ctx.random ? { random: this.#ctx.random } : {}) });
    this.#ctx.log.debug({ delay: Math.round(delay) }, 'mqtt reconnect scheduled');
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#stopping && this.#client && !this.#client.connected) this.#client.connect();
    }, delay);
  }

  async #onConnect(): Promise<void> {
    const client = this.#client!;
    const s = this.#ctx.storeId;
    this.#ctx.log.info('connected to the local broker');
    try {
      await client.subscribeAsync({ [topicFilter('deviceCommand', { storeId: s })]: { qos: 1 }, [localTopics.posEvents(s)]: { qos: 1 }, [localTopics.boxStatus(s)]: { qos: 1 } });
      await this.#publishHost('online');
      for (const id of this.#cleared) await client.publishAsync(localTopics.deviceState(s, id), '', { qos: 1, retain: true });
      this.#cleared.clear();
      for (const state of this.#states.values()) await client.publishAsync(localTopics.deviceState(s, state.id), JSON.stringify(state), { qos: 1, retain: true });
    } catch (err) {
      this.#ctx.log.warn({ err }, 'publishing states after connect failed (retried on the next connect)');
    }
  }

  /** Where the host gets the list for its status payload. */
  setPeripheralList(fn: () => string[]): void {
    this.#peripheralIds = fn;
  }

  async #publishHost(state: HostState['state'], reason?: string): Promise<void> {
    const payload: HostState = { state, since: new Date().toISOString(), pid: process.pid, peripherals: this.#peripheralIds() };
    if (reason) payload.reason = reason;
    await this.#client!.publishAsync(hostStateTopic(this.#ctx.storeId), JSON.stringify(payload), { qos: 1, retain: true });
  }

  /** Retained birth/death of a peripheral; kept and republished after every reconnect. */
  setState(state: PeripheralState): void {
    if (state.id === HOST_PERIPHERAL_ID || !isValidId(state.id)) throw new TypeError(`invalid peripheral id ${JSON.stringify(state.id)}`);
    this.#states.set(state.id, state);
    this.#cleared.delete(state.id);
    this.#publish(localTopics.deviceState(this.#ctx.storeId, state.id), JSON.stringify(state), true);
  }

  getState(id: string): PeripheralState | undefined {
    return this.#states.get(id);
  }

  /** Removes a peripheral's retained state (it no longer exists on this box). */
  clearState(id: string): void {
    this.#states.delete(id);
    this.#cleared.add(id);
    this.#publish(localTopics.deviceState(this.#ctx.storeId, id), '', true);
  }

  publishEvent(peripheralId: string, event: string, payload: unknown, opts: { retain?: boolean } = {}): void {
    this.#publish(localTopics.deviceEvent(this.#ctx.storeId, peripheralId, event), JSON.stringify(payload), opts.retain ?? false);
  }

  #publish(topic: string, payload: string, retain: boolean): void {
    const client = this.#client;
    // States are republished on connect; events while offline are queued by mqtt.js (QoS 1),
    // and events from before start() (no client yet) here, until the first connect.
    if (!client && !retain && !this.#stopping) {
      this.#early.push({ topic, payload });
      if (this.#early.length > EARLY_EVENTS_MAX) this.#early.shift();
      return;
    }
    if (!client || (retain && !client.connected)) return;
    client.publish(topic, payload, { qos: 1, retain }, (err) => {
      if (err) this.#ctx.log.debug({ err: err.message, topic }, 'publish failed');
    });
  }

  async stop(reason = 'devices process stopped'): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    if (!client) return;
    let clean = true;
    if (client.connected) {
      // Bounded: when the whole box stops, core's broker may go first and a
      // QoS 1 publish would wait for a PUBACK that never comes (this held
      // `tillbox start` for over 70 s). The host's last will covers the rest.
      const deaths = (async () => {
        const s = this.#ctx.storeId;
        for (const state of this.#states.values()) {
          const dead: PeripheralState = { ...state, state: 'off-offline', since: new Date().toISOString(), reason };
          await client.publishAsync(localTopics.deviceState(s, state.id), JSON.stringify(dead), { qos: 1, retain: true });
        }
        await this.#publishHost('offline', reason);
      })();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), STOP_PUBLISH_MS)));
      try {
        if ((await Promise.race([deaths, timeout])) === 'timeout') {
          clean = false;
          this.#ctx.log.warn({ afterMs: STOP_PUBLISH_MS }, 'broker did not confirm the offline states in time; leaving it to the last will');
        }
      } catch (err) {
        clean = false;
        this.#ctx.log.warn({ err }, 'publishing deaths on stop failed');
      } finally {
        clearTimeout(timer);
        deaths.catch(() => undefined);
      }
    }
    // Not connected (a crash, the broker gone): force, or mqtt.js waits for
    // an outgoing queue that can never drain. Bounded either way: a second
    // end() on a client that is already ending may never call back.
    await Promise.race([client.endAsync(!clean || !client.connected).catch(() => {}), sleep(STOP_PUBLISH_MS)]);
  }

  /** Simulates a crash in tests: drop the socket without DISCONNECT so the broker sends the will. */
  crash(): void {
    this.#stopping = true;
    clearTimeout(this.#timer);
    this.#client?.stream?.destroy();
    void this.#client?.endAsync(true).catch(() => {});
  }

  // ------------------------------------------------------------ inbound

  async #message(packet: IPublishPacket): Promise<void> {
    const storeId = this.#ctx.storeId;
    const cmd = parseTopic('deviceCommand', packet.topic, { storeId });
    if (cmd) return this.#command(cmd.peripheralId!, cmd.command!, packet.payload);
    if (parseTopic('boxStatus', packet.topic, { storeId }) && this.#boxHandler) {
      let status: unknown;
      try {
        status = JSON.parse(packet.payload.toString('utf8'));
      } catch {
        return; // an empty retained message clears the status
      }
      return this.#boxHandler(status);
    }
    const pos = parseTopic('posEvent', packet.topic, { storeId });
    if (pos && this.#posHandler) {
      let event: unknown;
      try {
        event = JSON.parse(packet.payload.toString('utf8'));
      } catch {
        this.#ctx.log.warn({ topic: packet.topic }, 'POS event is not JSON; ignored');
        return;
      }
      await this.#posHandler(pos.eventType!, event);
    }
  }

  async #command(peripheralId: string, command: string, payload: Buffer | string): Promise<void> {
    const s = this.#ctx.storeId;
    const defaultReply = localTopics.deviceCommandReply(s, peripheralId, command);
    let correlation = '';
    let replyTo = defaultReply;
    const reply = (result: CommandResult) => {
      const body = result.status === 'ok' ? { status: 'ok', correlation, ...(result.data === undefined ? {} : { data: result.data }) } : { status: 'error', correlation, error: result.error };
      this.#publish(replyTo, JSON.stringify(body), false);
    };
    if (payload.length > MAX_COMMAND_BYTES) return reply({ status: 'error', error: { code: DeviceErrorCode.CommandInvalid, message: `command larger than ${MAX_COMMAND_BYTES} bytes` } });
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString());
    } catch {
      return reply({ status: 'error', error: { code: DeviceErrorCode.CommandInvalid, message: 'payload is not JSON' } });
    }
    if (typeof doc === 'object' && doc !== null && typeof (doc as { correlation?: unknown }).correlation === 'string') correlation = (doc as { correlation: string }).correlation.slice(0, 128);
    if (!checkEnvelope(doc)) {
      return reply({
        status: 'error',
        error: { code: DeviceErrorCode.CommandInvalid, message: `invalid command envelope: ${describeErrors(checkEnvelope.errors)} (expected { correlation, replyTo?, args })` },
      });
    }
    if (doc.replyTo !== undefined) {
      // The broker would refuse (and drop us for) a publish outside our ACL.
      if (!mayPublish('devices', s, doc.replyTo) || doc.replyTo.includes('#') || doc.replyTo.includes('+')) {
        return reply({
          status: 'error',
          error: { code: DeviceErrorCode.CommandInvalid, message: `replyTo ${JSON.stringify(doc.replyTo)} is not a topic the devices process may publish to (use store/${s}/devices/...)` },
        });
      }
      replyTo = doc.replyTo;
    }
    // A QoS 1 redelivery of the same command gets the same answer, not a second action.
    const key = `${peripheralId}\u0000${command}\u0000${correlation}`;
    const seen = this.#recentReplies.get(key);
    if (seen) return reply(seen);
    const handler = this.#commandHandler;
    if (!handler) return reply({ status: 'error', error: { code: DeviceErrorCode.Unavailable, message: 'devices process is starting', retryable: true } });
    let result: CommandResult;
    try {
      result = await withTimeout(handler({ peripheralId, command, correlation, args: doc.args }), this.#ctx.commandTimeoutMs ?? 30_000);
    } catch (err) {
      this.#ctx.log.warn({ err, peripheralId, command }, 'command failed');
      result = { status: 'error', error: toCommandError(err) };
    }
    this.#remember(key, result);
    reply(result);
  }

  #remember(key: string, result: CommandResult): void {
    this.#recentReplies.set(key, result);
    if (this.#recentReplies.size > 256) this.#recentReplies.delete(this.#recentReplies.keys().next().value!);
  }
}

export function toCommandError(err: unknown): CommandError {
  const e = err as { code?: unknown; message?: unknown; retryable?: unknown };
  const out: CommandError = { code: typeof e?.code === 'string' ? e.code : DeviceErrorCode.CommandFailed, message: typeof e?.message === 'string' ? e.message : String(err) };
  if (typeof e?.retryable === 'boolean') out.retryable = e.retryable;
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: DeviceErrorCode.Timeout, retryable: true })), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e)),
    );
  });
}
