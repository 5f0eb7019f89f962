import mqtt, { type MqttClient } from 'mqtt';
import { setTimeout as sleep } from 'node:timers/promises';
import { cloudTopics } from '../../contract/topics.ts';
import type { CatalogUpdate, ConflictUpdate, EventBatch, SyncAck } from '../../contract/sync.ts';

// A minimal box on the cloud broker for HQ tests: publishes batches, collects
// acks, conflict updates and catalog updates addressed to its device id.

export interface BoxClient {
  client: MqttClient;
  acks: SyncAck[];
  conflictUpdates: ConflictUpdate[];
  catalogUpdates: CatalogUpdate[];
  /** Publishes a batch (QoS 1) and waits for HQ's ack of that batchId. */
  send(batch: EventBatch, timeoutMs?: number): Promise<SyncAck>;
  /**
   * Like a real box: publishes the batch made by `make()` and, while no ack
   * comes, resends a fresh one (new batch id) every `resendMs` — a message
   * published while HQ's workers were not subscribed is simply gone.
   */
  sendUntilAcked(make: () => EventBatch, resendMs?: number, timeoutMs?: number): Promise<SyncAck>;
  /** Publishes raw bytes on the events topic and waits for the next ack with no batchId or the given one. */
  sendRaw(payload: string | Buffer, batchId?: string, timeoutMs?: number): Promise<SyncAck>;
  waitFor<T>(pick: () => T | undefined, what: string, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

export async function connectBox(url: string, deviceId: string, protocolVersion: 4 | 5 = 5, storeId = 'store-1'): Promise<BoxClient> {
  const client = await mqtt.connectAsync(url, {
    clientId: deviceId,
    protocolVersion,
    clean: true,
    reconnectPeriod: 200,
    will: { topic: cloudTopics.fleetStatus(deviceId), payload: Buffer.from(JSON.stringify({ state: 'offline', deviceId, storeId, at: new Date().toISOString() })), qos: 1, retain: true },
  });
  const acks: SyncAck[] = [];
  const conflictUpdates: ConflictUpdate[] = [];
  const catalogUpdates: CatalogUpdate[] = [];
  client.on('message', (topic, payload) => {
    const body = JSON.parse(payload.toString()) as unknown;
    if (topic === cloudTopics.acks(deviceId)) acks.push(body as SyncAck);
    else if (topic === cloudTopics.conflicts(deviceId)) conflictUpdates.push(body as ConflictUpdate);
    else if (topic === cloudTopics.catalog(deviceId)) catalogUpdates.push(body as CatalogUpdate);
  });
  await client.subscribeAsync([cloudTopics.acks(deviceId), cloudTopics.conflicts(deviceId), cloudTopics.catalog(deviceId)], { qos: 1 });

  const waitFor = async <T>(pick: () => T | undefined, what: string, timeoutMs = 60_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pick();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`${deviceId}: timed out waiting for ${what}`);
      await sleep(10);
    }
  };

  return {
    client,
    acks,
    conflictUpdates,
    catalogUpdates,
    waitFor,
    async send(batch, timeoutMs) {
      await client.publishAsync(cloudTopics.events(deviceId), JSON.stringify(batch), { qos: 1 });
      return waitFor(() => acks.find((a) => a.batchId === batch.batchId), `ack of ${batch.batchId}`, timeoutMs);
    },
    async sendUntilAcked(make, resendMs = 1000, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      const ids = new Set<string>();
      for (;;) {
        const batch = make();
        ids.add(batch.batchId);
        await client.publishAsync(cloudTopics.events(deviceId), JSON.stringify(batch), { qos: 1 });
        const until = Date.now() + resendMs;
        while (Date.now() < until) {
          const ack = acks.find((a) => a.batchId !== undefined && ids.has(a.batchId));
          if (ack) return ack;
          await sleep(10);
        }
        if (Date.now() > deadline) throw new Error(`${deviceId}: no ack within ${timeoutMs} ms despite resends`);
      }
    },
    async sendRaw(payload, batchId, timeoutMs) {
      const before = acks.length;
      await client.publishAsync(cloudTopics.events(deviceId), payload, { qos: 1 });
      return waitFor(() => acks.slice(before).find((a) => a.batchId === batchId), 'ack of a raw message', timeoutMs);
    },
    async close() {
      await client.endAsync(true);
    },
  };
}
