import type { IClientOptions, MqttClient } from 'mqtt';
import { cloudTopics, isValidId, topicFilter, parseTopic } from '../../contract/topics.ts';
import { randomUUID } from 'node:crypto';
import type { CatalogChange, CloudCommand, ConflictNotice, ConflictUpdate } from '../../contract/sync.ts';
import type { AddressedUpdate, CatalogStore } from '../catalog/store.ts';
import { createClient, type ProtocolVersion } from '../ingest/mqtt.ts';
import { parseJson, validateFleetStatus, validateHealth, validateLoss, validateResync } from '../ingest/validate.ts';
import { LedgerError, type Ledger } from '../ledger/ledger.ts';
import type { Logger } from '../log.ts';

// HQ's control client (one per HQ process): fleet status (retained
// online/offline, last seen), catalog resync requests, loss reports; and
// everything HQ sends down besides acks — versioned catalog updates
// (retained per device, so a box that was offline gets the latest on
// connect and detects a gap itself) and conflict updates.

export interface ControlContext {
  ledger: Ledger;
  catalog: CatalogStore;
  log: Logger;
  url: string;
  protocolVersion: ProtocolVersion;
  mqttOptions?: IClientOptions;
}

/** A box's reply envelope `{ status, data?, error?, correlation }` (contract/devices.ts CommandReply). */
export interface CommandReply {
  status: 'ok' | 'error';
  correlation: string;
  data?: unknown;
  error?: { code: string; message: string; retryable?: boolean };
}

export class HqControl {
  readonly #ctx: ControlContext;
  #client: MqttClient | undefined;
  /** Devices known to have had a catalog (version > 0): no first-contact full update needed. */
  readonly #greeted = new Set<string>();
  /** Serializes catalog publishing so versions go out in order. */
  #catalogChain: Promise<unknown> = Promise.resolve();
  /** Commands waiting for their reply, by correlation id. */
  readonly #pending = new Map<string, (reply: CommandReply) => void>();

  constructor(ctx: ControlContext) {
    this.#ctx = ctx;
  }

  async start(): Promise<void> {
    const { log } = this.#ctx;
    const client = createClient({
      url: this.#ctx.url,
      clientId: `hq-control-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      protocolVersion: this.#ctx.protocolVersion,
      ...(this.#ctx.mqttOptions ? { options: this.#ctx.mqttOptions } : {}),
    });
    this.#client = client;
    client.on('error', (err) => log.warn({ err: err.message }, 'cloud broker error'));
    client.on('message', (topic, payload) => {
      this.#onMessage(topic, payload).catch((err: unknown) => log.error({ err, topic }, 'control message failed'));
    });
    await new Promise<void>((resolve) => (client.connected ? resolve() : client.once('connect', () => resolve())));
    await client.subscribeAsync([topicFilter('fleetStatus'), topicFilter('fleetHealth'), topicFilter('catalogResync'), topicFilter('loss'), topicFilter('commandReply')], { qos: 1 });
    log.info({ mqtt: this.#ctx.protocolVersion }, 'HQ control connected');
  }

  async stop(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    await this.#catalogChain.catch(() => {});
    if (c) await c.endAsync(true).catch(() => {});
  }

  async #onMessage(topic: string, payload: Buffer): Promise<void> {
    const { ledger, log } = this.#ctx;
    const kind = (['commandReply', 'fleetStatus', 'fleetHealth', 'catalogResync', 'loss'] as const).find((k) => parseTopic(k, topic));
    const deviceId = kind ? parseTopic(kind, topic)!.deviceId : undefined;
    if (!kind || !deviceId || !isValidId(deviceId)) return;
    const body = parseJson(payload);
    if (kind === 'commandReply') {
      const reply = body as Partial<CommandReply> | undefined;
      const waiter = typeof reply?.correlation === 'string' ? this.#pending.get(reply.correlation) : undefined;
      if (waiter && (reply!.status === 'ok' || reply!.status === 'error')) waiter(reply as CommandReply);
      return;
    }
    if (kind === 'fleetHealth') {
      if (!validateHealth(body) || body.deviceId !== deviceId) {
        log.warn({ topic }, 'invalid health document ignored');
        return;
      }
      await ledger.recordHealth(deviceId, body);
      return;
    }
    if (kind === 'fleetStatus') {
      if (payload.length === 0) return; // a cleared retained status
      if (!validateFleetStatus(body) || body.deviceId !== deviceId) {
        log.warn({ topic }, 'invalid fleet status ignored');
        return;
      }
      const r = await ledger.recordFleetStatus(deviceId, body.storeId, body.state === 'online', new Date(body.at), body.bdSeq);
      if (!r.applied) {
        log.info({ deviceId, state: body.state, bdSeq: body.bdSeq }, 'fleet status of an older session ignored');
        return;
      }
      log.info({ deviceId, state: body.state, bdSeq: body.bdSeq }, 'fleet status');
      if (body.state === 'online' && r.catalogVersion === 0) await this.greet(deviceId, body.storeId);
      else if (r.catalogVersion > 0) this.#greeted.add(deviceId);
    } else if (kind === 'catalogResync') {
      if (!validateResync(body) || body.deviceId !== deviceId) {
        log.warn({ topic }, 'invalid catalog resync request ignored');
        return;
      }
      log.info({ deviceId, haveVersion: body.haveVersion, reason: body.reason }, 'catalog resync requested');
      await this.#enqueue(async () => [await this.#ctx.catalog.fullFor(deviceId)]);
    } else if (kind === 'loss') {
      if (!validateLoss(body) || body.deviceId !== deviceId) {
        log.warn({ topic }, 'invalid loss report ignored');
        return;
      }
      log.warn({ deviceId, entries: body.entries }, 'box reported dropped messages');
      await ledger.recordLoss(deviceId, body);
    }
  }

  /** First contact: a device with catalog version 0 gets the full catalog. */
  async greet(deviceId: string, storeId?: string): Promise<void> {
    if (this.#greeted.has(deviceId)) return;
    this.#greeted.add(deviceId);
    await this.#enqueue(async () => {
      const devices = await this.#ctx.ledger.devices();
      const d = devices.find((x) => x.deviceId === deviceId);
      if (d && d.catalogVersion > 0) return [];
      return [await this.#ctx.catalog.fullFor(deviceId, storeId)];
    });
  }

  /** Applies catalog changes at HQ and publishes the versioned update to every device. */
  async changeCatalog(changes: CatalogChange[]): Promise<AddressedUpdate[]> {
    return this.#enqueue(async () => {
      const updates = await this.#ctx.catalog.change(changes);
      for (const u of updates) this.#greeted.add(u.deviceId);
      return updates;
    });
  }

  #enqueue(make: () => Promise<AddressedUpdate[]>): Promise<AddressedUpdate[]> {
    const run = this.#catalogChain.then(async () => {
      const updates = await make();
      for (const u of updates) this.#publish(cloudTopics.catalog(u.deviceId), JSON.stringify(u.update), true);
      return updates;
    });
    this.#catalogChain = run.catch(() => {});
    return run;
  }

  /**
   * Request/response with a box: publishes a CloudCommand on
   * tillbox/v1/{deviceId}/cmd/{command} (reply topic and correlation in the
   * payload, and as MQTT 5 properties when the broker speaks 5) and waits for
   * the reply on .../cmd/{command}/reply. 504 when none comes in time.
   */
  async command(deviceId: string, command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<CommandReply> {
    const c = this.#client;
    if (!c) throw new LedgerError('TB_NOT_READY', 'HQ is not connected to the cloud broker');
    let topic: string;
    let replyTo: string;
    try {
      topic = cloudTopics.command(deviceId, command);
      replyTo = cloudTopics.commandReply(deviceId, command);
    } catch (err) {
      throw new LedgerError('TB_VALIDATION', (err as Error).message);
    }
    const correlation = randomUUID();
    const cmd: CloudCommand = { correlation, replyTo, ...(args ? { args } : {}) };
    const reply = new Promise<CommandReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(correlation);
        reject(new LedgerError('TB_TIMEOUT', `no reply from ${deviceId} to ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(correlation, (r) => {
        clearTimeout(timer);
        this.#pending.delete(correlation);
        resolve(r);
      });
    });
    const properties = this.#ctx.protocolVersion === 5 ? { responseTopic: replyTo, correlationData: Buffer.from(correlation) } : undefined;
    c.publish(topic, JSON.stringify(cmd), { qos: 1, ...(properties ? { properties } : {}) }, (err) => {
      if (err) this.#ctx.log.warn({ err: err.message, topic }, 'command publish failed');
    });
    return reply;
  }

  /** Sends conflict state changes (e.g. resolutions) to their devices. */
  publishConflicts(notices: ConflictNotice[]): void {
    const byDevice = new Map<string, ConflictNotice[]>();
    for (const n of notices) byDevice.set(n.deviceId, [...(byDevice.get(n.deviceId) ?? []), n]);
    for (const [deviceId, conflicts] of byDevice) {
      const update: ConflictUpdate = { v: 1, conflicts };
      this.#publish(cloudTopics.conflicts(deviceId), JSON.stringify(update), false);
    }
  }

  #publish(topic: string, payload: string, retain: boolean): void {
    const c = this.#client;
    if (!c) return;
    c.publish(topic, payload, { qos: 1, retain }, (err) => {
      if (err) this.#ctx.log.warn({ err: err.message, topic }, 'publish failed');
    });
  }
}
