import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JournalEvent } from '../../contract/events.ts';
import type { RefundPayload, SalePayload } from '../../contract/pos.ts';
import { startHq, type RunningHq } from '../../cloud/hq/hq.ts';
import { moveOrd } from '../../cloud/ledger/ledger.ts';
import { silentLogger } from '../../cloud/log.ts';
import { FakeBox } from '../../cloud/testing.ts';
import { startMosquitto, type Mosquitto } from '../../harness/mosquitto.ts';
import { startPostgres, type Postgres } from '../../harness/postgres.ts';
import { connectBox } from './box-client.ts';

// Scale-out: three ingest workers behind one MQTT 5 shared subscription on
// Mosquitto 2, PostgreSQL 15. Four boxes of one store drain 600 events each;
// every backlog batch is published twice at once (so two workers race on the
// same device row) and live-lane events run ahead of the backlog. HQ must
// hold each event exactly once, with contiguous watermarks and the inventory
// the boxes' own deltas add up to.

const DEVICES = 4;
const EVENTS = 600;
const BATCH = 50;
const SKUS = ['MILK-1L', 'BUTTER-250', 'EGGS-10', 'BREAD-WG', 'BANANA'];

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function trade(box: FakeBox, n: number, seed: number): void {
  const r = rng(seed);
  const sales: JournalEvent<SalePayload>[] = [];
  while (box.events.length < n) {
    const x = r();
    const sku = SKUS[Math.floor(r() * SKUS.length)]!;
    if (x < 0.7 || sales.length === 0) {
      const line = sku === 'BANANA' ? { sku, weightGrams: 200 + Math.floor(r() * 1000) } : { sku, qty: 1 + Math.floor(r() * 3) };
      sales.push(box.sale([line]));
    } else if (x < 0.85) {
      const sale = sales[Math.floor(r() * sales.length)]!;
      box.refund(sale, [{ line: 0, qty: 1, restock: r() < 0.7 }]);
    } else if (x < 0.95) {
      box.adjust(sku, r() < 0.5 ? 10 : -2);
    } else box.drawer();
  }
}

/** What the box's own projection says each sku moved by (the box mirrors HQ's rules). */
function expectedDeltas(events: JournalEvent[]): Map<string, number> {
  const out = new Map<string, number>();
  const add = (sku: string, d: number) => out.set(sku, (out.get(sku) ?? 0) + d);
  const sales = new Map<string, SalePayload>();
  for (const e of events) {
    if (e.type === 'sale') {
      const p = e.payload as SalePayload;
      sales.set(e.id, p);
      for (const l of p.lines) add(l.sku, -(l.weightGrams ?? l.qty));
    } else if (e.type === 'refund') {
      const p = e.payload as RefundPayload;
      for (const l of p.lines) {
        const sold = sales.get(p.saleId)!.lines[l.line]!;
        if (l.restock) add(l.sku, sold.weightGrams ?? l.qty);
      }
    } else if (e.type === 'inventory.adjusted') {
      const p = e.payload as { sku: string; delta: number };
      add(p.sku, p.delta);
    }
  }
  return out;
}

/**
 * The oversell rule computed offline from the full history: moves of each
 * tracked sku in `<hlc> <id> <line>` order from the initial stock; a sale line
 * ending below zero falls short by min(qty, -balance).
 */
function expectedShortfalls(events: JournalEvent[], initial: number, tracked: Set<string>): Map<string, number> {
  const moves: { ord: string; sku: string; delta: number; sale: boolean; key: string }[] = [];
  const sales = new Map<string, SalePayload>();
  for (const e of events) {
    if (e.type === 'sale') {
      const p = e.payload as SalePayload;
      sales.set(e.id, p);
      p.lines.forEach((l, i) => moves.push({ ord: moveOrd(e.hlc, e.id, i), sku: l.sku, delta: -(l.weightGrams ?? l.qty), sale: true, key: `${e.id}:${i}` }));
    } else if (e.type === 'refund') {
      const p = e.payload as RefundPayload;
      p.lines.forEach((l, i) => {
        const sold = sales.get(p.saleId)!.lines[l.line]!;
        if (l.restock) moves.push({ ord: moveOrd(e.hlc, e.id, i), sku: l.sku, delta: sold.weightGrams ?? l.qty, sale: false, key: `${e.id}:${i}` });
      });
    } else if (e.type === 'inventory.adjusted') {
      const p = e.payload as { sku: string; delta: number };
      moves.push({ ord: moveOrd(e.hlc, e.id, 0), sku: p.sku, delta: p.delta, sale: false, key: `${e.id}:0` });
    }
  }
  moves.sort((a, b) => Buffer.compare(Buffer.from(a.ord), Buffer.from(b.ord)));
  const balance = new Map<string, number>();
  const out = new Map<string, number>();
  for (const m of moves) {
    if (!tracked.has(m.sku)) continue;
    const after = (balance.get(m.sku) ?? initial) + m.delta;
    balance.set(m.sku, after);
    if (m.sale && after < 0) out.set(m.key, Math.min(-m.delta, -after));
  }
  return out;
}

describe('HQ scale-out on Mosquitto 2 with 3 workers', () => {
  let broker: Mosquitto;
  let db: Postgres;
  let hq: RunningHq;

  beforeAll(async () => {
    [broker, db] = await Promise.all([startMosquitto(), startPostgres()]);
    hq = await startHq({ log: silentLogger(), config: { mqttUrl: broker.url, databaseUrl: db.url, httpPort: 0, workers: 3 } });
  }, 180_000);
  afterAll(async () => {
    await hq?.stop();
    await broker?.cleanup();
    await db?.stop();
  });

  it(`${DEVICES} boxes x ${EVENTS} events, every batch delivered twice concurrently: each event applied exactly once`, async () => {
    expect(hq.protocolVersion).toBe(5);
    const fakes = Array.from({ length: DEVICES }, (_, i) => new FakeBox({ deviceId: `scale-${i}`, storeId: 'scale-store' }));
    fakes.forEach((f, i) => trade(f, EVENTS, 1000 + i));

    await Promise.all(
      fakes.map(async (fake) => {
        const box = await connectBox(broker.url, fake.deviceId, 5, fake.storeId);
        try {
          let wm = 0;
          let round = 0;
          while (wm < EVENTS) {
            round++;
            const to = Math.min(wm + BATCH, EVENTS);
            const pending = [fake.batch(wm + 1, to), fake.batch(wm + 1, to)];
            // Every third round a live sale runs ahead of the backlog.
            const aheadSeq = Math.min(EVENTS, wm + 3 * BATCH);
            if (round % 3 === 0 && aheadSeq > to) pending.push(fake.batch(aheadSeq, aheadSeq, 'live'));
            const acks = await Promise.all(pending.map((b) => box.send(b, 120_000)));
            for (const a of acks) expect(['applied', 'duplicate']).toContain(a.result);
            wm = Math.max(...acks.map((a) => a.lastAppliedSeq));
            expect(wm).toBeGreaterThanOrEqual(to);
          }
        } finally {
          await box.close();
        }
      }),
    );

    const workersUsed = hq.workers.filter((w) => w.stats.batches > 0).length;
    expect(workersUsed).toBeGreaterThanOrEqual(2);
    expect(hq.workers.reduce((s, w) => s + w.stats.errors + w.stats.rejected, 0)).toBe(0);

    for (const fake of fakes) {
      const events: { id: string; seq: number }[] = [];
      for (let after = 0; ; ) {
        const page = (await (await fetch(`${hq.httpUrl}/api/v1/devices/${fake.deviceId}/events?after=${after}&limit=1000`)).json()) as { events: { id: string; seq: number }[] };
        if (page.events.length === 0) break;
        events.push(...page.events);
        after = page.events.at(-1)!.seq;
      }
      expect(events.map((e) => e.id)).toEqual(fake.events.map((e) => e.id));
    }
    const devices = (await (await fetch(`${hq.httpUrl}/api/v1/devices`)).json()) as { deviceId: string; lastAppliedSeq: number }[];
    expect(devices.filter((d) => d.deviceId.startsWith('scale-')).map((d) => d.lastAppliedSeq)).toEqual(fakes.map(() => EVENTS));

    const want = expectedDeltas(fakes.flatMap((f) => f.events));
    const { inventory } = (await (await fetch(`${hq.httpUrl}/api/v1/inventory?storeId=scale-store`)).json()) as { inventory: { sku: string; delta: number }[] };
    expect(Object.fromEntries(inventory.map((i) => [i.sku, i.delta]))).toEqual(Object.fromEntries(want));
    // Oversell conflicts are exactly what the HLC-ordered history implies,
    // whatever order the batches arrived in (demo catalog: 50 of each packaged item).
    const shortfalls = expectedShortfalls(
      fakes.flatMap((f) => f.events),
      50,
      new Set(SKUS.filter((s) => s !== 'BANANA')),
    );
    expect(shortfalls.size).toBeGreaterThan(0);
    const { conflicts } = (await (await fetch(`${hq.httpUrl}/api/v1/conflicts?status=open&limit=10000`)).json()) as {
      conflicts: { kind: string; eventId: string; storeId: string; compensation?: { qty?: number } }[];
    };
    const open = conflicts.filter((c) => c.kind === 'oversell' && c.storeId === 'scale-store');
    const lineOf = new Map<string, string>();
    for (const key of shortfalls.keys()) lineOf.set(key.split(':')[0]!, key);
    expect(Object.fromEntries(open.map((c) => [lineOf.get(c.eventId) ?? c.eventId, c.compensation?.qty]))).toEqual(Object.fromEntries(shortfalls));

    const { summary } = (await (await fetch(`${hq.httpUrl}/api/v1/sales?storeId=scale-store`)).json()) as { summary: { sales: number }[] };
    expect(summary[0]!.sales).toBe(fakes.flatMap((f) => f.events).filter((e) => e.type === 'sale').length);
  }, 240_000);
});
