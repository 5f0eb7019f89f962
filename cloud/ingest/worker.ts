import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { isValidId, cloudTopics } from '../../contract/topics.ts';
import type { ConflictNotice, SyncAck } from '../../contract/sync.ts';
import type { ApplyOutcome, Ledger } from '../ledger/ledger.ts';
import type { Logger } from '../log.ts';
import { createClient, deviceOfTopic, type ProtocolVersion } from './mqtt.ts';
import { checkBatch, type BatchCheck } from './validate.ts';

// One ingest worker: an MQTT client that takes event batches, applies each
// in one ledger transaction and answers with a SyncAck on
// tillbox/v1/{deviceId}/acks — only after COMMIT. Several workers share the
// load with an MQTT 5 shared subscription ($share/{group}/tillbox/v1/+/events);
// on a 3.1.1-only broker (embedded aedes) only worker 0 subscribes, plainly.
//
// A worker applies its batches one at a time, in arrival order, and parses
// and validates the next batch while the one before is in the database (a
// two-stage pipeline: the database never waits for JSON.parse and the schema
// checks). mqtt.js reads the next message only after the PUBACK of this one,
// which is sent once the batch before is applied: at most two batches are held,
// and a worker that dies loses at most those two, which the box resends after
// its ack timeout (the box trusts HQ's acks, sent after COMMIT, never a PUBACK).

export interface IngestWorkerContext {
  ledger: Ledger;
  log: Logger;
  url: string;
  protocolVersion: ProtocolVersion;
  /** Worker number, 0-based (client id and, on 3.1.1, whether it subscribes). */
  index: number;
  /** Shared subscription group (default 'hq'). */
  group?: string;
  /** TLS and credentials for the cloud broker. */
  mqttOptions?: IClientOptions;
  /** After a batch was applied: conflicts to send down, devices to greet with a catalog. */
  onApplied?: (outcome: ApplyOutcome, storeId: string) => void;
  /** Test hook, called after COMMIT and before the ack is published (HQ kill -9 tests). */
  afterCommit?: (outcome: ApplyOutcome) => void;
}

export interface WorkerStats {
  batches: number;
  applied: number;
  duplicates: number;
  gaps: number;
  rejected: number;
  errors: number;
}

/** A batch parsed and checked, waiting for its turn in the database; undefined: nothing to apply. */
type Prepared = { deviceId: string; check: BatchCheck } | undefined;

export class IngestWorker {
  readonly #ctx: IngestWorkerContext;
  #client: MqttClient | undefined;
  /** The apply of the latest batch taken; the next one starts after it (never rejects). */
  #applying: Promise<void> = Promise.resolve();
  readonly stats: WorkerStats = { batches: 0, applied: 0, duplicates: 0, gaps: 0, rejected: 0, errors: 0 };

  constructor(ctx: IngestWorkerContext) {
    this.#ctx = ctx;
  }

  get subscription(): string | undefined {
    if (this.#ctx.protocolVersion === 5) return cloudTopics.sharedEvents(this.#ctx.group ?? 'hq');
    return this.#ctx.index === 0 ? 'tillbox/v1/+/events' : undefined;
  }

  async start(): Promise<void> {
    const { log, index } = this.#ctx;
    const client = createClient({
      url: this.#ctx.url,
      clientId: `hq-ingest-${index}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      protocolVersion: this.#ctx.protocolVersion,
      ...(this.#ctx.mqttOptions ? { options: this.#ctx.mqttOptions } : {}),
    });
    this.#client = client;
    client.on('error', (err) => log.warn({ err: err.message, worker: index }, 'cloud broker error'));
    client.on('offline', () => log.warn({ worker: index }, 'cloud broker offline'));
    client.handleMessage = (packet, callback) => {
      if (packet.cmd !== 'publish') return callback();
      const topic = (packet as IPublishPacket).topic;
      let prepared: Prepared;
      try {
        prepared = this.#prepare(packet as IPublishPacket);
      } catch (err) {
        this.stats.errors++;
        log.error({ err, worker: index, topic }, 'batch handling failed; the box will resend');
        prepared = undefined;
      }
      const before = this.#applying;
      this.#applying = before.then(() =>
        this.#apply(prepared).catch((err: unknown) => {
          this.stats.errors++;
          log.error({ err, worker: index, topic }, 'batch handling failed; the box will resend');
        }),
      );
      void before.then(() => callback());
    };
    const sub = this.subscription;
    client.on('connect', () => {
      log.info({ worker: index, subscription: sub ?? '(idle: broker has no shared subscriptions)', mqtt: this.#ctx.protocolVersion }, 'ingest worker connected');
    });
    await new Promise<void>((resolve) => {
      if (client.connected) return resolve();
      client.once('connect', () => resolve());
    });
    // mqtt.js re-subscribes by itself after a reconnect (clean sessions).
    if (sub) await client.subscribeAsync(sub, { qos: 1 });
  }

  async stop(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    if (c) await c.endAsync(true).catch(() => {});
  }

  /** Parses and validates a batch (no database): runs while the batch before is applied. */
  #prepare(packet: IPublishPacket): Prepared {
    const deviceId = deviceOfTopic(packet.topic);
    if (!deviceId || !isValidId(deviceId)) {
      this.#ctx.log.warn({ topic: packet.topic }, 'event batch on an invalid topic; dropped');
      return undefined;
    }
    this.stats.batches++;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    return { deviceId, check: checkBatch(deviceId, payload) };
  }

  async #apply(prepared: Prepared): Promise<void> {
    if (!prepared) return;
    const { ledger, log } = this.#ctx;
    const { deviceId, check } = prepared;
    if (!check.ok) {
      this.stats.rejected++;
      log.warn({ deviceId, batchId: check.batchId, reason: check.reason }, 'batch rejected');
      this.#publishAck(await ledger.rejectedAck(deviceId, check.batchId, check.reason));
      return;
    }
    const outcome = await ledger.applyBatch(check.batch);
    // COMMITTED. Only now may the box hear about it.
    this.#ctx.afterCommit?.(outcome);
    const r = outcome.ack.result;
    if (r === 'gap') this.stats.gaps++;
    else if (r === 'duplicate') this.stats.duplicates++;
    else this.stats.applied++;
    log.debug({ deviceId, batchId: check.batch.batchId, lane: check.batch.lane, result: r, wm: outcome.ack.lastAppliedSeq, applied: outcome.applied, held: outcome.held }, 'batch handled');
    this.#publishAck(outcome.ack);
    this.#publishConflicts(outcome.conflicts);
    this.#ctx.onApplied?.(outcome, check.batch.storeId);
  }

  #publishAck(ack: SyncAck): void {
    // Not awaited: the PUBACK for it arrives on the stream this handler is holding.
    this.#client?.publish(cloudTopics.acks(ack.deviceId), JSON.stringify(ack), { qos: 1 }, (err) => {
      if (err) this.#ctx.log.warn({ err: err.message, deviceId: ack.deviceId }, 'ack publish failed; the box will resend and get a duplicate ack');
    });
  }

  /** Every new or changed conflict also goes to its device's conflicts topic (ids make it idempotent). */
  #publishConflicts(notices: ConflictNotice[]): void {
    const byDevice = new Map<string, ConflictNotice[]>();
    for (const n of notices) byDevice.set(n.deviceId, [...(byDevice.get(n.deviceId) ?? []), n]);
    for (const [deviceId, conflicts] of byDevice) {
      this.#client?.publish(cloudTopics.conflicts(deviceId), JSON.stringify({ v: 1, conflicts }), { qos: 1 });
    }
  }
}
