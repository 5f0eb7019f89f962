import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { SyncAck } from '../contract/sync.ts';
import { cloudTopics } from '../contract/topics.ts';
import { validateConfig } from '../appliance/config/load.ts';
import { LevelJournal } from '../appliance/journal/level-journal.ts';
import { silentLogger } from '../appliance/log.ts';
import { createDemoCatalog } from '../appliance/pos/demo-catalog.ts';
import { PosService } from '../appliance/pos/pos-service.ts';
import { CloudBridge } from '../appliance/sync/cloud-bridge.ts';
import { startMosquitto } from '../test/support/mosquitto.ts';
import { percentile } from './stats.ts';

// Sync benchmark (issue 3 §4). A backlog of real POS sales (PosService on a
// LevelJournal, contract-valid payloads) is built offline, then the bridge
// connects and drains it through a real Mosquitto 2 to HQ. While it drains,
// a new sale is made every 100 ms; its latency is commit on the box → HQ's
// ack covering its seq seen on the broker (HQ acks only after its DB commit,
// so this is an upper bound of "committed at HQ"). Idle latency: the same,
// one sale at a time, with no backlog. Targets are reported, not asserted.

export interface SyncBenchOptions {
  events?: number;
  /** Starts HQ on the broker; returns a stopper. Default: the reference HQ (cloud/) on PGlite. */
  startHq?: (brokerUrl: string, dataDir: string) => Promise<{ name: string; stop(): Promise<void> }>;
  log?: (msg: string) => void;
}

export interface SyncBenchResult {
  events: number;
  drainEventsPerSec: number;
  drainSeconds: number;
  liveP50Ms: number;
  liveP99Ms: number;
  liveSamples: number;
  idleP99Ms: number;
  idleP50Ms: number;
  hq: string;
  broker: string;
}

export async function benchSync(opts: SyncBenchOptions = {}): Promise<SyncBenchResult> {
  const total = opts.events ?? 100_000;
  const say = opts.log ?? ((m: string) => console.error(m));
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-bench-sync-'));
  const log = silentLogger();
  const deviceId = 'bench-box';
  const storeId = 'demo-store';
  const mosq = await startMosquitto();
  const hq = await (opts.startHq ?? startReferenceHq)(mosq.url, join(dir, 'hq'));
  const journal = new LevelJournal({ dir: join(dir, 'journal'), deviceId, storeId, log });
  await journal.start();
  const pos = new PosService({ journal, catalog: createDemoCatalog(), log, storeId, currency: 'EUR' });
  await pos.start();
  const skus = ['MILK-1L', 'BUTTER-250', 'EGGS-10', 'BREAD-WG', 'PASTA-500', 'RICE-1K', 'COFFEE-500', 'OJ-1L'];
  let key = 0;
  const sell = () => pos.sell({ lines: [{ sku: skus[key % skus.length]!, qty: 1 + (key % 3) }, { sku: 'BANANA', weightGrams: 500 + (key % 700) }].slice(0, 1 + (key % 2)), tenders: [{ type: 'cash', amount: 100_000 }] }, `bench-${key++}`);

  const watcher = await mqtt.connectAsync(mosq.url, { clientId: 'bench-watcher', protocolVersion: 5 });
  const waiting = new Map<number, { t0: number; done: (ms: number) => void }>();
  watcher.on('message', (_t, payload) => {
    const ack = JSON.parse(payload.toString()) as SyncAck;
    const above = new Set(ack.appliedAbove);
    const t = performance.now();
    for (const [seq, w] of waiting) {
      if (seq <= ack.lastAppliedSeq || above.has(seq)) {
        waiting.delete(seq);
        w.done(t - w.t0);
      }
    }
  });
  await watcher.subscribeAsync(cloudTopics.acks(deviceId), { qos: 1 });
  const timedSale = async (): Promise<number> => {
    const r = await sell();
    const t0 = performance.now();
    return new Promise((resolve) => waiting.set(r.value.seq, { t0, done: resolve }));
  };

  try {
    say(`bench sync: building a backlog of ${total} sales offline ...`);
    for (let done = 0; done < total; ) {
      const n = Math.min(1000, total - done);
      await Promise.all(Array.from({ length: n }, sell));
      done += n;
    }

    const config = validateConfig({ version: 1, cloud: { url: mosq.url } }).cloud;
    const bridge = new CloudBridge({ journal, config, deviceId, storeId, stateDir: dir, log });
    say(`bench sync: draining to ${hq.name} through mosquitto ...`);
    const t0 = performance.now();
    await bridge.start();
    const live: number[] = [];
    let draining = true;
    const drained = (async () => {
      while ((await bridge.status()).lastAckedSeq < total) await new Promise((r) => setTimeout(r, 20));
      return (performance.now() - t0) / 1000;
    })().finally(() => (draining = false));
    const liveLoop = (async () => {
      while (draining) {
        const p = timedSale().then((ms) => live.push(ms));
        await new Promise((r) => setTimeout(r, 100));
        void p;
      }
    })();
    const drainSeconds = await drained;
    await liveLoop;
    await bridge.whenSynced();

    say('bench sync: idle latency ...');
    const idle: number[] = [];
    for (let i = 0; i < 200; i++) {
      idle.push(await timedSale());
      await new Promise((r) => setTimeout(r, 10));
    }
    await bridge.stop();
    return {
      events: total,
      drainEventsPerSec: Math.round(total / drainSeconds),
      drainSeconds: Math.round(drainSeconds * 100) / 100,
      liveP50Ms: Math.round(percentile(live, 50) * 10) / 10,
      liveP99Ms: Math.round(percentile(live, 99) * 10) / 10,
      liveSamples: live.length,
      idleP50Ms: Math.round(percentile(idle, 50) * 10) / 10,
      idleP99Ms: Math.round(percentile(idle, 99) * 10) / 10,
      hq: hq.name,
      broker: 'mosquitto 2',
    };
  } finally {
    await watcher.endAsync(true);
    await pos.stop();
    await journal.stop();
    await hq.stop();
    await mosq.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startReferenceHq(brokerUrl: string): Promise<{ name: string; stop(): Promise<void> }> {
  const { FakeHq } = await import('../appliance/sync/testing.ts');
  const hq = new FakeHq({ url: brokerUrl });
  await hq.start();
  return { name: 'contract model (in-memory)', stop: () => hq.stop() };
}

if (import.meta.main) {
  const events = Number(process.argv[2] ?? 100_000);
  console.log(JSON.stringify(await benchSync({ events }), null, 2));
}
