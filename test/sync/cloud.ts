import { FakeHq, startTestBroker, type TestBroker } from '../../appliance/sync/testing.ts';
import { startMosquitto, type Mosquitto } from '../../harness/mosquitto.ts';
import { PartitionProxy } from './proxy.ts';
import { startRealHq } from '../../harness/real-hq.ts';

// The cloud side of an end-to-end sync test: a cloud broker (embedded aedes
// or a real Mosquitto 2), HQ on it, and a partition proxy the box connects
// through. Tests talk to HQ only through `CloudHq`, so the same scenario runs
// against every broker/database combination.

export type BrokerKind = 'aedes' | 'mosquitto';
export type DbKind = 'pglite' | 'postgres' | 'model';

import type { CloudHq } from '../../harness/history.ts';
export type { CloudHq };

export interface Cloud<_H extends CloudHq = CloudHq> {
  broker: BrokerKind;
  /** URL the box uses (through the proxy). */
  boxUrl: string;
  /** URL HQ and test clients use (direct). */
  brokerUrl: string;
  proxy: PartitionProxy;
  hq: CloudHq;
  /** Mosquitto only: kill -9 + start again on the same port. */
  restartBroker(kind: 'kill' | 'term'): Promise<void>;
  close(): Promise<void>;
}

export interface CloudOptions {
  broker: BrokerKind;
  /** 'model': the contract model (appliance/sync/testing.ts) instead of the reference HQ. */
  db: DbKind;
  /** Extra env for the HQ process (fault hooks). */
  hqEnv?: Record<string, string>;
}

export async function startCloud(opts: CloudOptions): Promise<Cloud> {
  let aedes: TestBroker | undefined;
  let mosq: Mosquitto | undefined;
  if (opts.broker === 'aedes') aedes = await startTestBroker();
  else mosq = await startMosquitto();
  const brokerUrl = aedes?.url ?? mosq!.url;
  const port = aedes?.port ?? mosq!.port;
  const proxy = new PartitionProxy({ port });
  await proxy.start();
  const hq = opts.db === 'model' ? await startModelHq(brokerUrl) : await startRealHq(brokerUrl, opts.db, opts.hqEnv);
  return {
    broker: opts.broker,
    boxUrl: proxy.url,
    brokerUrl,
    proxy,
    hq,
    async restartBroker(kind) {
      if (!mosq) throw new Error('broker restart needs mosquitto');
      if (kind === 'kill') await mosq.kill();
      else await mosq.stop();
      await mosq.restart();
    },
    async close() {
      await hq.stop().catch(() => undefined);
      await proxy.close();
      await aedes?.close();
      await mosq?.cleanup();
    },
  };
}

/** HQ played by the contract model (appliance/sync/testing.ts). */
export async function startModelHq(brokerUrl: string): Promise<CloudHq> {
  const hq = new FakeHq({ url: brokerUrl });
  await hq.start();
  return {
    async watermark(deviceId) {
      return hq.ledger(deviceId).watermark;
    },
    async events(deviceId) {
      return [...hq.ledger(deviceId).events.values()].sort((a, b) => a.seq - b.seq).map((e) => ({ id: e.id, seq: e.seq, deviceId: e.deviceId }));
    },
    async inventory(storeId) {
      const out = new Map<string, number>();
      for (const l of hq.ledgers.values()) for (const e of l.events.values()) if (e.storeId === storeId) for (const [sku, d] of stockDeltas(e, l.events)) out.set(sku, (out.get(sku) ?? 0) + d);
      return out;
    },
    async conflicts() {
      return [];
    },
    stop: () => hq.stop(),
  };
}

interface AnyEvent {
  id: string;
  type: string;
  payload: unknown;
}

/** Stock deltas of one POS event, the way PosService folds them (box-side truth for comparisons). */
export function stockDeltas(e: AnyEvent, byAnyKey: Map<number, AnyEvent> | Map<string, AnyEvent>): Array<[string, number]> {
  const p = e.payload as any;
  switch (e.type) {
    case 'sale':
      return p.lines.map((l: any) => [l.sku, -(l.weightGrams ?? l.qty)]);
    case 'refund':
      return p.lines.filter((l: any) => l.restock).map((l: any) => [l.sku, l.qty]);
    case 'void': {
      const sale = [...(byAnyKey as Map<unknown, AnyEvent>).values()].find((x) => x.id === p.saleId);
      return sale ? (sale.payload as any).lines.map((l: any) => [l.sku, l.weightGrams ?? l.qty]) : [];
    }
    case 'inventory.adjusted':
      return [[p.sku, p.delta]];
    default:
      return [];
  }
}
