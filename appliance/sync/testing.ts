import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import type { JournalEvent } from '../../contract/events.ts';
import type { EventBatch, SyncAck } from '../../contract/sync.ts';
import { cloudTopics } from '../../contract/topics.ts';
import { setNoDelay } from './cloud-link.ts';

// Test doubles for the bridge's unit tests: an embedded aedes cloud broker
// on a free port, and a contract-model HQ that answers batches with acks
// exactly as contract/sync.ts describes (watermark + appliedAbove, gap with
// expectedSeq). The real HQ (cloud/) replaces it in test/sync.

export interface TestBroker {
  url: string;
  port: number;
  aedes: Aedes;
  /** Destroys every client socket (a broker crash as clients see it). */
  dropClients(): void;
  close(): Promise<void>;
}

export async function startTestBroker(port = 0): Promise<TestBroker> {
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    aedes.handle(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${actual}`,
    port: actual,
    aedes,
    dropClients() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => aedes.close(() => r()));
    },
  };
}

interface DeviceLedger {
  watermark: number;
  above: Set<number>;
  events: Map<number, JournalEvent>;
}

export interface FakeHqOptions {
  url: string;
  /** Decide per batch what to do; default 'ack'. 'drop-ack' applies but sends no ack (HQ crash after commit). */
  behaviour?: (batch: EventBatch, n: number) => 'ack' | 'drop-ack' | 'ignore' | 'reject';
  /** Delay before each batch is applied (a slow HQ). */
  delayMs?: number;
}

/** The contract's reference model of HQ ingest (not the product HQ). */
export class FakeHq {
  readonly ledgers = new Map<string, DeviceLedger>();
  /** How many times each event id was applied (must never exceed 1). */
  readonly applied = new Map<string, number>();
  readonly batches: EventBatch[] = [];
  /** Event ids in the order HQ applied them. */
  readonly order: string[] = [];
  readonly acks: SyncAck[] = [];
  readonly #o: FakeHqOptions;
  #client: MqttClient | undefined;
  #chain: Promise<void> = Promise.resolve();
  #n = 0;

  constructor(options: FakeHqOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const client = await mqtt.connectAsync(this.#o.url, { clientId: `fake-hq-${process.pid}-${Math.random().toString(36).slice(2)}`, reconnectPeriod: 200, protocolVersion: 4 });
    this.#client = client;
    setNoDelay(client);
    client.on('connect', () => setNoDelay(client));
    await client.subscribeAsync('tillbox/v1/+/events', { qos: 1 });
    client.on('message', (_topic, payload) => {
      const batch = JSON.parse(payload.toString()) as EventBatch;
      this.#chain = this.#chain.then(() => this.#handle(batch)).catch(() => undefined);
    });
  }

  async stop(): Promise<void> {
    await this.#client?.endAsync(true);
  }

  ledger(deviceId: string): DeviceLedger {
    let l = this.ledgers.get(deviceId);
    if (!l) {
      l = { watermark: 0, above: new Set(), events: new Map() };
      this.ledgers.set(deviceId, l);
    }
    return l;
  }

  duplicates(): string[] {
    return [...this.applied].filter(([, n]) => n > 1).map(([id]) => id);
  }

  async #handle(batch: EventBatch): Promise<void> {
    this.batches.push(batch);
    const n = this.#n++;
    const what = this.#o.behaviour?.(batch, n) ?? 'ack';
    if (what === 'ignore') return;
    if (this.#o.delayMs) await new Promise((r) => setTimeout(r, this.#o.delayMs));
    const l = this.ledger(batch.deviceId);
    const ack: SyncAck = { v: 1, deviceId: batch.deviceId, batchId: batch.batchId, result: 'applied', lastAppliedSeq: 0, appliedAbove: [], conflicts: [], at: new Date().toISOString() };
    if (what === 'reject') {
      ack.result = 'rejected';
      ack.reason = 'test rejects this batch';
    } else if (batch.lane === 'backlog' && batch.events[0]!.seq > l.watermark + 1) {
      ack.result = 'gap';
      ack.expectedSeq = l.watermark + 1;
    } else {
      let fresh = 0;
      for (const e of batch.events) {
        if (e.seq <= l.watermark || l.above.has(e.seq)) continue;
        fresh += 1;
        l.events.set(e.seq, e);
        this.applied.set(e.id, (this.applied.get(e.id) ?? 0) + 1);
        this.order.push(e.id);
        if (e.seq === l.watermark + 1) l.watermark = e.seq;
        else l.above.add(e.seq);
        while (l.above.has(l.watermark + 1)) {
          l.above.delete(l.watermark + 1);
          l.watermark += 1;
        }
      }
      ack.result = fresh > 0 ? 'applied' : 'duplicate';
    }
    ack.lastAppliedSeq = l.watermark;
    ack.appliedAbove = [...l.above].sort((a, b) => a - b);
    if (what === 'drop-ack') return;
    this.acks.push(ack);
    await this.#client!.publishAsync(cloudTopics.acks(batch.deviceId), JSON.stringify(ack), { qos: 1 });
  }
}

/** Polls until `check` is truthy (no timing assertion: the caller's test timeout bounds it). */
export async function until<T>(check: () => T | Promise<T>, what: string, limitMs = 90_000, stepMs = 20): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() - t0 > limitMs) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
