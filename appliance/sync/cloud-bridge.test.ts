import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { CatalogData } from '../../contract/pos.ts';
import type { CatalogUpdate, LossReport } from '../../contract/sync.ts';
import { cloudTopics } from '../../contract/topics.ts';
import { validateConfig } from '../config/load.ts';
import { LevelJournal } from '../journal/level-journal.ts';
import { silentLogger } from '../log.ts';
import { CloudBridge, type CloudConfig } from './cloud-bridge.ts';
import { FakeHq, startTestBroker, until, type TestBroker } from './testing.ts';

const DEVICE = 'box-1';
const STORE = 'store-1';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-sync-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function cloudConfig(url: string | undefined, extra: Partial<CloudConfig> = {}): CloudConfig {
  const cfg = validateConfig({ version: 1, cloud: { backoffBaseMs: 20, backoffMaxMs: 200, ackTimeoutMs: 2_000, ...(url ? { url } : {}), ...extra } });
  return cfg.cloud;
}

async function journalIn(dir: string): Promise<LevelJournal> {
  const j = new LevelJournal({ dir: join(dir, 'journal'), deviceId: DEVICE, storeId: STORE, log: silentLogger() });
  await j.start();
  cleanups.push(() => j.stop());
  return j;
}

let keyN = 0;
async function sell(j: LevelJournal, n: number): Promise<void> {
  const all = [];
  for (let i = 0; i < n; i++) {
    const k = `k-${process.pid}-${keyN++}`;
    all.push(j.append({ type: 'sale', payload: { lines: [{ sku: 'A', qty: 1 }], total: 100, pad: 'x'.repeat(100) }, idempotencyKey: k, requestHash: k }));
  }
  await Promise.all(all);
}

async function bridgeFor(dir: string, journal: LevelJournal, cfg: CloudConfig, extra: Partial<ConstructorParameters<typeof CloudBridge>[0]> = {}): Promise<CloudBridge> {
  const b = new CloudBridge({ journal, config: cfg, deviceId: DEVICE, storeId: STORE, stateDir: dir, log: silentLogger(), ...extra });
  await b.start();
  cleanups.push(() => b.stop());
  return b;
}

async function brokerAndHq(opts: ConstructorParameters<typeof FakeHq>[0] extends infer O ? Omit<O, 'url'> : never = {}): Promise<{ broker: TestBroker; hq: FakeHq }> {
  const broker = await startTestBroker();
  cleanups.push(() => broker.close());
  const hq = new FakeHq({ url: broker.url, ...opts });
  await hq.start();
  cleanups.push(() => hq.stop());
  return { broker, hq };
}

function expectExactlyOnce(hq: FakeHq, journalLastSeq: number): void {
  const l = hq.ledger(DEVICE);
  expect(l.watermark).toBe(journalLastSeq);
  expect(l.events.size).toBe(journalLastSeq);
  expect(hq.duplicates()).toEqual([]);
}

describe('CloudBridge journal lane (against a contract-model HQ on an embedded broker)', { timeout: 60_000 }, () => {
  it('drains a backlog in count-bounded batches, marks events synced only from acks, and persists the watermark', async () => {
    const dir = tempDir();
    const journal = await journalIn(dir);
    await sell(journal, 1200);
    const bridge = await bridgeFor(dir, journal, cloudConfig(undefined));
    // no url: sync is off, everything stays pending
    expect((await bridge.status()).pending).toBe(1200);
    await bridge.stop();

    const broker2 = await brokerAndHq();
    const b = await bridgeFor(dir, journal, cloudConfig(broker2.broker.url, { batchMaxEvents: 100 }));
    await until(async () => (await b.status()).pending === 0, 'backlog drained');
    expectExactlyOnce(broker2.hq, 1200);
    expect(broker2.hq.batches.every((x) => x.events.length <= 100 && x.lane === 'backlog')).toBe(true);
    const s = await b.status();
    expect(s).toMatchObject({ connected: true, pending: 0, oldestPendingAgeMs: 0, lastAckedSeq: 1200, conflicts: 0, dropped: 0 });
    expect(s.link?.protocolVersion).toBe(4); // aedes speaks 3.1.1 only: the fallback worked
    await b.stop();
    const persisted = JSON.parse(readFileSync(join(dir, 'sync', 'state.json'), 'utf8'));
    expect(persisted.lastAckedSeq).toBe(1200);
  });

  it('bounds batches by bytes', async () => {
    const dir = tempDir();
    const { broker, hq } = await brokerAndHq();
    const journal = await journalIn(dir);
    await sell(journal, 300);
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url, { batchMaxBytes: 8192 }));
    await until(async () => (await b.status()).pending === 0, 'drained');
    expectExactlyOnce(hq, 300);
    for (const batch of hq.batches) expect(Buffer.byteLength(JSON.stringify(batch))).toBeLessThanOrEqual(8192);
    expect(hq.batches.length).toBeGreaterThan(5);
  });

  it('reads about as many events per backlog batch as fitted in the last one, not batchMaxEvents each time', async () => {
    const dir = tempDir();
    const { broker, hq } = await brokerAndHq();
    const journal = await journalIn(dir);
    await sell(journal, 600);
    const read = journal.readTexts.bind(journal);
    const limits: number[] = [];
    journal.readTexts = (q) => {
      limits.push(q?.limit ?? Number.NaN);
      return read(q);
    };
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url, { batchMaxBytes: 8192, batchMaxEvents: 500 }));
    await until(async () => (await b.status()).pending === 0, 'drained');
    expectExactlyOnce(hq, 600);
    const fitted = Math.max(...hq.batches.map((x) => x.events.length));
    expect(fitted).toBeLessThan(100);
    expect(limits[0]).toBe(500);
    // After the first batch no read asks for much more than a batch holds.
    expect(Math.max(...limits.slice(1))).toBeLessThanOrEqual(2 * fitted);
  });

  it('resends with a new batch id when HQ commits but its ack is lost, and HQ applies each event once', async () => {
    const dir = tempDir();
    const { broker, hq } = await brokerAndHq({ behaviour: (_b, n) => (n % 3 === 1 ? 'drop-ack' : n % 7 === 3 ? 'ignore' : 'ack') });
    const journal = await journalIn(dir);
    await sell(journal, 500);
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url, { batchMaxEvents: 50, ackTimeoutMs: 300 }));
    await until(async () => (await b.status()).pending === 0, 'drained despite lost acks');
    expectExactlyOnce(hq, 500);
    const s = await b.status();
    expect(s.lane!.ackTimeouts).toBeGreaterThan(0);
    const ids = hq.batches.map((x) => x.batchId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('restarts from HQ expectedSeq on a gap (HQ ledger behind the box)', async () => {
    const dir = tempDir();
    const { broker, hq } = await brokerAndHq();
    const journal = await journalIn(dir);
    await sell(journal, 200);
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url, { batchMaxEvents: 50 }));
    await until(async () => (await b.status()).pending === 0, 'drained');
    await b.stop();
    // HQ loses its ledger (restore from an old backup): the box believes 200 are acked.
    hq.ledgers.clear();
    hq.applied.clear();
    await sell(journal, 10);
    const b2 = await bridgeFor(dir, journal, cloudConfig(broker.url, { batchMaxEvents: 50 }));
    await until(async () => hq.ledger(DEVICE).watermark === 210 && (async () => (await b2.status()).pending === 0)(), 'refilled');
    await until(async () => (await b2.status()).pending === 0, 'drained');
    expectExactlyOnce(hq, 210);
    expect((await b2.status()).lane!.gaps).toBeGreaterThan(0);
  });

  it('keeps rejected events pending, surfaces the rejection, and retries until HQ accepts', async () => {
    const dir = tempDir();
    let rejecting = true;
    const { broker, hq } = await brokerAndHq({ behaviour: () => (rejecting ? 'reject' : 'ack') });
    const journal = await journalIn(dir);
    await sell(journal, 20);
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url));
    await until(async () => (await b.status()).rejected.count >= 2, 'rejected twice');
    const s = await b.status();
    expect(s.pending).toBe(20);
    expect(s.stalled).toMatch(/rejected by HQ/);
    expect(s.rejected.last?.reason).toBe('test rejects this batch');
    rejecting = false;
    await until(async () => (await b.status()).pending === 0, 'accepted after the fix');
    expectExactlyOnce(hq, 20);
    expect((await b.status()).stalled).toBeNull();
  });

  it('sends a sale committed during a backlog drain on the live lane, applied above the watermark', async () => {
    const dir = tempDir();
    const { broker, hq } = await brokerAndHq({ delayMs: 30 });
    const journal = await journalIn(dir);
    await sell(journal, 2000);
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url, { batchMaxEvents: 50, maxInFlight: 1 }));
    await until(() => hq.ledger(DEVICE).watermark > 0, 'drain started');
    await sell(journal, 1);
    const liveSeq = journal.lastSeq;
    await until(() => hq.ledger(DEVICE).events.has(liveSeq), 'live sale at HQ');
    expect(hq.ledger(DEVICE).watermark).toBeLessThan(liveSeq - 1); // it did not wait for the backlog
    expect(hq.batches.some((x) => x.lane === 'live' && x.events.some((e) => e.seq === liveSeq))).toBe(true);
    await until(async () => (await b.status()).pending === 0, 'drained');
    expectExactlyOnce(hq, liveSeq);
  });

  it('never lets a refund overtake its sale on the live lane', async () => {
    const dir = tempDir();
    const { broker, hq } = await brokerAndHq({ delayMs: 20 });
    const journal = await journalIn(dir);
    await sell(journal, 1000);
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url, { batchMaxEvents: 50, maxInFlight: 1 }));
    await until(() => hq.ledger(DEVICE).watermark > 0, 'drain started');
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < 20; i++) {
      const sale = await journal.append({ type: 'sale', payload: { lines: [] }, idempotencyKey: `s-${i}`, requestHash: 'h' });
      const refund = await journal.append({ type: 'refund', payload: { saleId: sale.event.id }, idempotencyKey: `r-${i}`, requestHash: 'h' });
      pairs.push([sale.event.id, refund.event.id]);
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 30));
    }
    await until(async () => (await b.status()).pending === 0, 'drained');
    expectExactlyOnce(hq, journal.lastSeq);
    for (const [sale, refund] of pairs) expect(hq.order.indexOf(sale)).toBeLessThan(hq.order.indexOf(refund));
    expect(hq.batches.some((x) => x.lane === 'live')).toBe(true);
  });

  it('reconnects after the broker drops every client and resends from the first unacked seq', async () => {
    const dir = tempDir();
    const { broker, hq } = await brokerAndHq({ delayMs: 5 });
    const journal = await journalIn(dir);
    await sell(journal, 1000);
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url, { batchMaxEvents: 50, ackTimeoutMs: 500 }));
    for (let i = 0; i < 5; i++) {
      await until(() => hq.ledger(DEVICE).watermark > i * 150, 'progress');
      broker.dropClients();
    }
    await until(async () => (await b.status()).pending === 0, 'drained');
    expectExactlyOnce(hq, 1000);
    expect((await b.status()).link!.connects).toBeGreaterThan(1);
  });

  it('connects when the broker comes up later (backoff), with birth online and offline on stop', async () => {
    const dir = tempDir();
    const probe = await startTestBroker();
    const port = probe.port;
    await probe.close();
    const journal = await journalIn(dir);
    await sell(journal, 5);
    const b = new CloudBridge({ journal, config: cloudConfig(`mqtt://127.0.0.1:${port}`), deviceId: DEVICE, storeId: STORE, stateDir: dir, log: silentLogger() });
    await b.start();
    cleanups.push(() => b.stop());
    await until(async () => (await b.status()).link!.attempts >= 3, 'retrying');
    expect((await b.status()).connected).toBe(false);
    const broker = await startTestBroker(port);
    cleanups.push(() => broker.close());
    const hq = new FakeHq({ url: broker.url });
    await hq.start();
    cleanups.push(() => hq.stop());
    const watcher = await mqtt.connectAsync(broker.url, { clientId: 'watcher' });
    cleanups.push(() => watcher.endAsync(true));
    const states: string[] = [];
    watcher.on('message', (_t, p) => states.push(JSON.parse(p.toString()).state));
    await watcher.subscribeAsync(cloudTopics.fleetStatus(DEVICE), { qos: 1 });
    await until(async () => (await b.status()).pending === 0, 'synced after the broker came up');
    await until(() => states.includes('online'), 'birth');
    await b.stop();
    await until(() => states.at(-1) === 'offline', 'offline on stop');
  });

  it('numbers its cloud sessions (bdSeq): every connection and every restart gets a higher one, the will carries it', async () => {
    const dir = tempDir();
    const { broker } = await brokerAndHq();
    const journal = await journalIn(dir);
    const watcher = await mqtt.connectAsync(broker.url, { clientId: 'bdseq-watcher' });
    cleanups.push(() => watcher.endAsync(true));
    const seen: Array<{ state: string; bdSeq: number }> = [];
    watcher.on('message', (_t, p) => p.length > 0 && seen.push(JSON.parse(p.toString())));
    await watcher.subscribeAsync(cloudTopics.fleetStatus(DEVICE), { qos: 1 });
    const b1 = await bridgeFor(dir, journal, cloudConfig(broker.url));
    await until(() => seen.some((s) => s.state === 'online'), 'first birth');
    await b1.stop();
    const b2 = await bridgeFor(dir, journal, cloudConfig(broker.url));
    await until(() => seen.filter((s) => s.state === 'online').length >= 2, 'second birth');
    await b2.stop();
    await until(() => seen.at(-1)?.state === 'offline', 'second death');
    const births = seen.filter((s) => s.state === 'online').map((s) => s.bdSeq);
    expect(births[1]).toBeGreaterThan(births[0]!);
    // Each death names its own session.
    expect(seen.filter((s) => s.state === 'offline').map((s) => s.bdSeq)).toEqual(births);
  });

  it('resumes after a restart from the persisted watermark', async () => {
    const dir = tempDir();
    const { broker, hq } = await brokerAndHq();
    const journal = await journalIn(dir);
    await sell(journal, 300);
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url, { batchMaxEvents: 100 }));
    await until(async () => (await b.status()).pending === 0, 'drained');
    await b.stop();
    const before = hq.batches.length;
    await sell(journal, 5);
    const b2 = await bridgeFor(dir, journal, cloudConfig(broker.url, { batchMaxEvents: 100 }));
    await until(async () => (await b2.status()).pending === 0, 'drained again');
    const after = hq.batches.slice(before);
    expect(Math.min(...after.flatMap((x) => x.events.map((e) => e.seq)))).toBe(301);
    expectExactlyOnce(hq, 305);
  });
});

describe('CloudBridge downstream', { timeout: 60_000 }, () => {
  const catalog = (price: number): CatalogData => ({
    currency: 'EUR',
    taxClasses: [{ name: 'standard', rateBp: 2000 }],
    items: [{ sku: 'A', name: 'Apple', barcodes: [], price, taxClass: 'standard', trackStock: true, soldByWeight: false, unit: 'ea', stock: 5 }],
  });

  it('applies catalog updates in order, asks for a full one on a gap, and keeps the version across a restart', async () => {
    const dir = tempDir();
    const { broker } = await brokerAndHq();
    const journal = await journalIn(dir);
    const applied: CatalogData[] = [];
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url), { applyCatalog: (d) => applied.push(d) });
    await until(() => b.connected, 'connected');
    const hqClient = await mqtt.connectAsync(broker.url, { clientId: 'hq-catalog' });
    cleanups.push(() => hqClient.endAsync(true));
    const resyncs: unknown[] = [];
    hqClient.on('message', (_t, p) => resyncs.push(JSON.parse(p.toString())));
    await hqClient.subscribeAsync(cloudTopics.catalogResync(DEVICE), { qos: 1 });
    const send = (u: CatalogUpdate) => hqClient.publishAsync(cloudTopics.catalog(DEVICE), JSON.stringify(u), { qos: 1 });
    const at = new Date().toISOString();
    await send({ v: 1, kind: 'full', version: 1, catalog: catalog(100), publishedAt: at });
    await send({ v: 1, kind: 'delta', version: 2, baseVersion: 1, changes: [{ op: 'price', sku: 'A', price: 120 }], publishedAt: at });
    await until(async () => (await b.status()).catalog.version === 2, 'v2');
    expect(applied.at(-1)!.items[0]!.price).toBe(120);
    await send({ v: 1, kind: 'delta', version: 4, baseVersion: 3, changes: [{ op: 'price', sku: 'A', price: 140 }], publishedAt: at });
    await until(() => resyncs.length === 1, 'resync request');
    expect(resyncs[0]).toMatchObject({ v: 1, deviceId: DEVICE, haveVersion: 2 });
    await send({ v: 1, kind: 'delta', version: 5, baseVersion: 4, changes: [{ op: 'price', sku: 'A', price: 150 }], publishedAt: at });
    await send({ v: 1, kind: 'full', version: 5, catalog: catalog(150), publishedAt: at });
    await until(async () => (await b.status()).catalog.version === 5, 'v5 full');
    expect(applied.map((c) => c.items[0]!.price)).toEqual([100, 120, 150]);
    await b.stop();
    const restored: CatalogData[] = [];
    const b2 = await bridgeFor(dir, journal, cloudConfig(broker.url), { applyCatalog: (d) => restored.push(d) });
    expect((await b2.status()).catalog.version).toBe(5);
    expect(restored[0]!.items[0]!.price).toBe(150);
  });

  it('answers cloud commands with the correlation id, on the reply topic', async () => {
    const dir = tempDir();
    const { broker } = await brokerAndHq();
    const journal = await journalIn(dir);
    await sell(journal, 3);
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url));
    await until(async () => (await b.status()).pending === 0, 'synced');
    const hqClient = await mqtt.connectAsync(broker.url, { clientId: 'hq-cmd' });
    cleanups.push(() => hqClient.endAsync(true));
    const replies: any[] = [];
    hqClient.on('message', (_t, p) => replies.push(JSON.parse(p.toString())));
    await hqClient.subscribeAsync(cloudTopics.commandReply(DEVICE, 'sync.status'), { qos: 1 });
    await hqClient.publishAsync(cloudTopics.command(DEVICE, 'sync.status'), JSON.stringify({ correlation: 'c-42' }), { qos: 1 });
    await until(() => replies.length === 1, 'reply');
    expect(replies[0]).toMatchObject({ status: 'ok', correlation: 'c-42', data: { pending: 0, lastAckedSeq: 3 } });
    await hqClient.subscribeAsync(cloudTopics.commandReply(DEVICE, 'nope'), { qos: 1 });
    await hqClient.publishAsync(cloudTopics.command(DEVICE, 'nope'), JSON.stringify({ correlation: 'c-43' }), { qos: 1 });
    await until(() => replies.length === 2, 'error reply');
    expect(replies[1]).toMatchObject({ status: 'error', correlation: 'c-43' });
  });

  it('ignores acks that break the contract and counts nothing from them', async () => {
    const dir = tempDir();
    const { broker } = await brokerAndHq({ behaviour: () => 'ignore' });
    const journal = await journalIn(dir);
    await sell(journal, 3);
    const b = await bridgeFor(dir, journal, cloudConfig(broker.url));
    await until(() => b.connected, 'connected');
    const evil = await mqtt.connectAsync(broker.url, { clientId: 'evil' });
    cleanups.push(() => evil.endAsync(true));
    await evil.publishAsync(cloudTopics.acks(DEVICE), JSON.stringify({ v: 1, deviceId: DEVICE, result: 'applied', lastAppliedSeq: 'lots' }), { qos: 1 });
    await evil.publishAsync(cloudTopics.acks(DEVICE), 'not json', { qos: 1 });
    await new Promise((r) => setTimeout(r, 100));
    expect((await b.status()).pending).toBe(3);
  });
});

describe('CloudBridge mapped topics', { timeout: 60_000 }, () => {
  it('stores QoS 1 mapped traffic while offline, drops the oldest beyond the bound, and reports the loss on reconnect', async () => {
    const dir = tempDir();
    const local = await startTestBroker();
    cleanups.push(() => local.close());
    const probe = await startTestBroker();
    const cloudPort = probe.port;
    await probe.close();
    const journal = await journalIn(dir);
    const cfg = cloudConfig(`mqtt://127.0.0.1:${cloudPort}`, {
      mapped: [
        { direction: 'out', local: 'store/+/flows/#', remote: 'tillbox/v1/{deviceId}/mapped/', qos: 1 },
        { direction: 'in', local: 'store/+/flows/in/#', remote: 'tillbox/v1/{deviceId}/mapped/', qos: 1 },
      ],
      mappedQueueMax: 10,
    });
    const b = await bridgeFor(dir, journal, cfg, { local: { url: local.url, username: 'core', password: 'x' } });
    const pub = await mqtt.connectAsync(local.url, { clientId: 'flows-1' });
    cleanups.push(() => pub.endAsync(true));
    await until(async () => (await b.status()).mapped !== null, 'mapped started');
    await new Promise((r) => setTimeout(r, 200)); // let the bridge's local subscription land
    for (let i = 0; i < 25; i++) await pub.publishAsync(`store/${STORE}/flows/temp`, String(i), { qos: 1 });
    await until(async () => (await b.status()).dropped === 15, '15 dropped');
    expect((await b.status()).mapped!.queued).toBe(10);

    const cloud = await startTestBroker(cloudPort);
    cleanups.push(() => cloud.close());
    const hq = await mqtt.connectAsync(cloud.url, { clientId: 'hq-mapped' });
    cleanups.push(() => hq.endAsync(true));
    const got: string[] = [];
    const losses: LossReport[] = [];
    hq.on('message', (t, p) => (t.endsWith('/loss') ? losses.push(JSON.parse(p.toString())) : got.push(`${t}=${p.toString()}`)));
    await hq.subscribeAsync([`tillbox/v1/${DEVICE}/mapped/#`, cloudTopics.loss(DEVICE)], { qos: 1 });
    await until(() => got.length === 10 && losses.length === 1, 'forwarded + loss report');
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `tillbox/v1/${DEVICE}/mapped/store/${STORE}/flows/temp=${i + 15}`));
    expect(losses[0]!.entries).toEqual([expect.objectContaining({ lane: 'mapped', dropped: 15 })]);
    await until(async () => (await b.status()).unreportedLoss === 0, 'ledger cleared');
    expect((await b.status()).dropped).toBe(15);

    // in: cloud → local with the prefix removed
    const sub = await mqtt.connectAsync(local.url, { clientId: 'flows-2' });
    cleanups.push(() => sub.endAsync(true));
    const inbound: string[] = [];
    sub.on('message', (t, p) => inbound.push(`${t}=${p.toString()}`));
    await sub.subscribeAsync(`store/${STORE}/flows/in/#`, { qos: 1 });
    await hq.publishAsync(`tillbox/v1/${DEVICE}/mapped/store/${STORE}/flows/in/price`, 'hello', { qos: 1 });
    await until(() => inbound.length === 1, 'inbound');
    expect(inbound[0]).toBe(`store/${STORE}/flows/in/price=hello`);
  });
});
