import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CatalogData } from '../../contract/pos.ts';
import { CatalogStore } from '../catalog/store.ts';
import { silentLogger } from '../log.ts';
import { FakeBox, MANAGER, TILL } from '../testing.ts';
import type { Db } from './db.ts';
import { Ledger, moveOrd } from './ledger.ts';
import { migrate } from './schema.ts';

// The ledger contract, one suite for every database adapter (PGlite and
// PostgreSQL 15): the exactly-once rule of contract/sync.ts, projections and
// conflict rules must hold identically on both.

export interface LedgerDbFactory {
  /** A fresh, empty database per test. */
  open(): Promise<Db>;
}

const HOUR = 3600_000;
const T0 = Date.parse('2026-06-01T10:00:00Z');

export function smallCatalog(): CatalogData {
  const item = (sku: string, stock: number | undefined, trackStock = true) => ({
    sku,
    name: sku,
    barcodes: [],
    price: 100,
    taxClass: 'reduced',
    trackStock,
    soldByWeight: false,
    unit: 'ea' as const,
    ...(stock === undefined ? {} : { stock }),
  });
  return {
    currency: 'EUR',
    taxClasses: [{ name: 'reduced', rateBp: 700 }],
    items: [item('MILK', 50), item('LAST', 1), item('BAG', undefined, false)],
  };
}

export function ledgerContractSuite(name: string, factory: LedgerDbFactory): void {
  describe(`ledger contract on ${name}`, () => {
    let db: Db;
    let now = T0;
    let ledger: Ledger;
    let catalog: CatalogStore;
    const clock = () => now;

    beforeEach(async () => {
      now = T0;
      db = await factory.open();
      await migrate(db);
      ledger = new Ledger({ db, log: silentLogger(), now: clock });
      catalog = new CatalogStore({ db, now: clock });
      await catalog.seed(smallCatalog());
    });
    afterEach(async () => {
      await db.close();
    });

    const count = async (sql: string, params: unknown[] = []) => Number((await db.query<{ n: number }>(sql, params)).rows[0]!.n);

    it('migrates idempotently', async () => {
      await migrate(db);
      expect(await count('SELECT count(*) AS n FROM hq_schema')).toBe(5);
    });

    it('takes births and deaths by session (bdSeq): a late death of an older session is ignored, in either arrival order', async () => {
      const online = async (id: string) => (await ledger.devices()).find((d) => d.deviceId === id)?.online;
      const at = new Date(T0);
      expect((await ledger.recordFleetStatus('box-f', 'store-1', true, at, 7)).applied).toBe(true);
      expect((await ledger.recordFleetStatus('box-f', 'store-1', false, at, 6)).applied).toBe(false);
      expect(await online('box-f')).toBe(true);
      expect((await ledger.recordFleetStatus('box-f', 'store-1', false, at, 7)).applied).toBe(true);
      expect(await online('box-f')).toBe(false);
      // A box whose counter restarted (restored state dir, replacement box) still comes online.
      expect((await ledger.recordFleetStatus('box-f', 'store-1', true, at, 1)).applied).toBe(true);
      expect(await online('box-f')).toBe(true);
      expect((await ledger.recordFleetStatus('box-f', 'store-1', false, at, 1)).applied).toBe(true);
      expect(await online('box-f')).toBe(false);
      // The birth of 8, then a late death of 7: 8 stands.
      await ledger.recordFleetStatus('box-f', 'store-1', true, at, 8);
      await ledger.recordFleetStatus('box-f', 'store-1', false, at, 7);
      expect(await online('box-f')).toBe(true);
      // Boxes that send no bdSeq (older firmware) keep the old behaviour: the last status wins.
      await ledger.recordFleetStatus('box-g', 'store-1', true, at);
      await ledger.recordFleetStatus('box-g', 'store-1', false, at);
      expect(await online('box-g')).toBe(false);
    });

    it('applies a batch once and skips a resent duplicate', async () => {
      const box = new FakeBox({ deviceId: 'box-a', clock });
      for (let i = 0; i < 5; i++) box.sale([{ sku: 'MILK', qty: 1 }]);
      const first = await ledger.applyBatch(box.batch(1, 5));
      expect(first.ack).toMatchObject({ result: 'applied', lastAppliedSeq: 5, appliedAbove: [], conflicts: [] });
      expect(first.applied).toBe(5);
      const again = await ledger.applyBatch(box.batch(1, 5));
      expect(again.ack).toMatchObject({ result: 'duplicate', lastAppliedSeq: 5 });
      expect(again.duplicates).toBe(5);
      // An overlapping batch applies only the new part.
      box.sale([{ sku: 'MILK', qty: 1 }]);
      const overlap = await ledger.applyBatch(box.batch(4, 6));
      expect(overlap).toMatchObject({ applied: 1, duplicates: 2, ack: { result: 'applied', lastAppliedSeq: 6 } });
      expect(await count('SELECT count(*) AS n FROM events')).toBe(6);
      expect(await count("SELECT count(*) AS n FROM sales_ledger WHERE kind = 'sale'")).toBe(6);
      expect((await ledger.inventory('store-1')).find((i) => i.sku === 'MILK')).toMatchObject({ delta: -6, onHand: 44 });
    });

    it('refuses a backlog gap with the expected seq and applies nothing', async () => {
      const box = new FakeBox({ deviceId: 'box-a', clock });
      for (let i = 0; i < 6; i++) box.sale([{ sku: 'MILK', qty: 1 }]);
      await ledger.applyBatch(box.batch(1, 3));
      const gap = await ledger.applyBatch(box.batch(5, 6));
      expect(gap.ack).toMatchObject({ result: 'gap', lastAppliedSeq: 3, expectedSeq: 4, conflicts: [] });
      expect(await count('SELECT count(*) AS n FROM events')).toBe(3);
      const first = await ledger.applyBatch(box.batch(2, 6));
      expect(first.ack).toMatchObject({ result: 'applied', lastAppliedSeq: 6 });
      // The very first batch of a device must start at seq 1.
      const other = new FakeBox({ deviceId: 'box-b', clock });
      other.sale([{ sku: 'MILK' }]);
      other.sale([{ sku: 'MILK' }]);
      expect((await ledger.applyBatch(other.batch(2, 2))).ack).toMatchObject({ result: 'gap', lastAppliedSeq: 0, expectedSeq: 1 });
    });

    it('applies live-lane events above the watermark at once; the backlog then fills in, each event once, watermark contiguous', async () => {
      const box = new FakeBox({ deviceId: 'box-a', clock });
      for (let i = 0; i < 10; i++) box.sale([{ sku: 'MILK', qty: 1 }]);
      expect((await ledger.applyBatch(box.batch(1, 2))).ack.lastAppliedSeq).toBe(2);
      const live9 = await ledger.applyBatch(box.batch(9, 9, 'live'));
      expect(live9.ack).toMatchObject({ result: 'applied', lastAppliedSeq: 2, appliedAbove: [9] });
      const live7 = await ledger.applyBatch(box.batch(7, 7, 'live'));
      expect(live7.ack).toMatchObject({ result: 'applied', lastAppliedSeq: 2, appliedAbove: [7, 9] });
      // A live resend is a duplicate.
      expect((await ledger.applyBatch(box.batch(7, 7, 'live'))).ack).toMatchObject({ result: 'duplicate', appliedAbove: [7, 9] });
      const b1 = await ledger.applyBatch(box.batch(3, 7));
      expect(b1).toMatchObject({ applied: 4, duplicates: 1, ack: { result: 'applied', lastAppliedSeq: 7, appliedAbove: [9] } });
      const b2 = await ledger.applyBatch(box.batch(8, 10));
      expect(b2).toMatchObject({ applied: 2, duplicates: 1, ack: { result: 'applied', lastAppliedSeq: 10, appliedAbove: [] } });
      const stored = await ledger.events('box-a', 0, 100);
      expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(stored.map((e) => e.id)).toEqual(box.events.map((e) => e.id));
      expect(await count("SELECT count(*) AS n FROM sales_ledger WHERE kind = 'sale'")).toBe(10);
      expect((await ledger.inventory('store-1')).find((i) => i.sku === 'MILK')).toMatchObject({ delta: -10, onHand: 40 });
      expect((await ledger.devices())[0]).toMatchObject({ deviceId: 'box-a', lastAppliedSeq: 10, openConflicts: 0 });
    });

    it('keeps events unique by idempotency key and id: a reused key at a new seq is recorded as an anomaly, never applied', async () => {
      const box = new FakeBox({ deviceId: 'box-a', clock });
      box.sale([{ sku: 'MILK', qty: 1 }]);
      box.sale([{ sku: 'MILK', qty: 1 }]);
      const reusedKey = box.sale([{ sku: 'MILK', qty: 5 }]);
      reusedKey.idempotencyKey = box.events[0]!.idempotencyKey;
      const reusedId = box.sale([{ sku: 'MILK', qty: 7 }]);
      reusedId.id = box.events[1]!.id;
      const out = await ledger.applyBatch(box.batch(1, 4));
      expect(out).toMatchObject({ applied: 2, ack: { result: 'applied', lastAppliedSeq: 4 } });
      expect(await count('SELECT count(*) AS n FROM events')).toBe(2);
      expect(await count('SELECT count(*) AS n FROM event_anomalies')).toBe(2);
      expect((await ledger.inventory('store-1')).find((i) => i.sku === 'MILK')!.delta).toBe(-2);
      // The same key on another device is fine.
      const other = new FakeBox({ deviceId: 'box-b', clock });
      const e = other.sale([{ sku: 'MILK', qty: 1 }]);
      e.idempotencyKey = box.events[0]!.idempotencyKey;
      expect((await ledger.applyBatch(other.batch(1, 1))).applied).toBe(1);
    });

    it('sorts out reused ids and keys across batches and devices, and resent seqs above the watermark, each seq recorded once', async () => {
      const box = new FakeBox({ deviceId: 'box-a', clock });
      const other = new FakeBox({ deviceId: 'box-b', clock });
      const foreign = other.sale([{ sku: 'MILK', qty: 1 }]);
      await ledger.applyBatch(other.batch(1, 1));
      for (let i = 0; i < 8; i++) box.sale([{ sku: 'MILK', qty: 1 }]);
      await ledger.applyBatch(box.batch(1, 3));
      box.events[3]!.idempotencyKey = box.events[0]!.idempotencyKey; // seq 4 reuses seq 1's key (earlier batch)
      box.events[4]!.id = foreign.id; // seq 5 reuses another device's event id
      // seq 7 went live first; the backlog resends it under another id (a box bug): the first is kept.
      await ledger.applyBatch(box.batch(7, 7, 'live'));
      const liveId = box.events[6]!.id;
      box.events[6]!.id = `${liveId}-other`;
      const out = await ledger.applyBatch(box.batch(4, 8));
      expect(out).toMatchObject({ applied: 2, duplicates: 1, ack: { result: 'applied', lastAppliedSeq: 8, appliedAbove: [] } });
      const anomalies = await db.query<{ seq: number; reason: string }>("SELECT seq, reason FROM event_anomalies WHERE device_id = 'box-a' ORDER BY seq");
      expect(anomalies.rows).toEqual([
        { seq: 4, reason: 'duplicate-idempotency-key' },
        { seq: 5, reason: 'duplicate-event-id' },
      ]);
      expect((await ledger.events('box-a', 0, 100)).map((e) => [e.seq, e.id === liveId || e.seq !== 7])).toEqual([1, 2, 3, 6, 7, 8].map((q) => [q, true]));
      // Resending everything (anomalies included) changes nothing.
      const again = await ledger.applyBatch(box.batch(1, 8));
      expect(again).toMatchObject({ applied: 0, duplicates: 8, ack: { result: 'duplicate', lastAppliedSeq: 8 } });
      expect((await ledger.inventory('store-1')).find((i) => i.sku === 'MILK')!.delta).toBe(-7);
    });

    it('projects inventory from deltas: sales -qty, refunds with restock +qty, voids, adjustments ±delta; untracked items too', async () => {
      const box = new FakeBox({ deviceId: 'box-a', clock });
      const s1 = box.sale([
        { sku: 'MILK', qty: 3 },
        { sku: 'BAG', qty: 2 },
      ]);
      box.refund(s1, [{ line: 0, qty: 1 }]);
      box.refund(s1, [{ line: 0, qty: 1, restock: false }]);
      const s2 = box.sale([{ sku: 'MILK', qty: 4 }]);
      box.void(s2);
      box.adjust('MILK', 24);
      box.adjust('MILK', -5);
      box.drawer();
      await ledger.applyBatch(box.batch(1, 4));
      await ledger.applyBatch(box.batch(5, 8));
      const inv = await ledger.inventory('store-1');
      expect(inv.find((i) => i.sku === 'MILK')).toEqual({ storeId: 'store-1', sku: 'MILK', delta: -3 + 1 - 4 + 4 + 24 - 5, tracked: true, initial: 50, onHand: 67 });
      expect(inv.find((i) => i.sku === 'BAG')).toEqual({ storeId: 'store-1', sku: 'BAG', delta: -2, tracked: false, initial: null, onHand: null });
      const [summary] = await ledger.salesSummary('store-1');
      expect(summary).toMatchObject({ sales: 2, refunds: 2, voids: 1, net: 500 - 100 - 100 + 400 - 400 });
    });

    it('restocks a refund or void that arrived before its sale once the sale arrives, exactly once', async () => {
      const box = new FakeBox({ deviceId: 'box-a', clock });
      const s1 = box.sale([{ sku: 'MILK', qty: 3 }]);
      const s2 = box.sale([{ sku: 'MILK', qty: 2 }]);
      box.refund(s1, [{ line: 0, qty: 2 }]);
      box.void(s2);
      // Live lane: the refund and the void overtake their sales.
      await ledger.applyBatch(box.batch(3, 4, 'live'));
      expect((await ledger.inventory('store-1')).find((i) => i.sku === 'MILK')?.delta ?? 0).toBe(0);
      await ledger.applyBatch(box.batch(1, 4));
      expect((await ledger.inventory('store-1')).find((i) => i.sku === 'MILK')!.delta).toBe(-3 - 2 + 2 + 2);
      await ledger.applyBatch(box.batch(1, 4));
      expect((await ledger.inventory('store-1')).find((i) => i.sku === 'MILK')!.delta).toBe(-1);
      expect(await count('SELECT count(*) AS n FROM stock_moves')).toBe(4);
    });

    for (const order of ['earlier-first', 'later-first'] as const) {
      it(`two boxes selling the last unit during a partition yield exactly one conflict, on the later sale by HLC (${order})`, async () => {
        const a = new FakeBox({ deviceId: 'box-a', clock: () => T0 - 2 * HOUR });
        const b = new FakeBox({ deviceId: 'box-b', clock: () => T0 - 1 * HOUR });
        a.sale([{ sku: 'MILK', qty: 1 }]);
        const saleA = a.sale([{ sku: 'LAST', qty: 1 }]);
        const saleB = b.sale([{ sku: 'LAST', qty: 1 }]);
        const batches = [a.batch(1, 2), b.batch(1, 1)];
        if (order === 'later-first') batches.reverse();
        const outcomes = [];
        for (const batch of batches) outcomes.push(await ledger.applyBatch(batch));
        const conflicts = await ledger.conflicts();
        expect(conflicts).toHaveLength(1);
        expect(conflicts[0]).toMatchObject({
          kind: 'oversell',
          status: 'open',
          deviceId: 'box-b',
          eventId: saleB.id,
          seq: 1,
          sku: 'LAST',
          compensation: { type: 'backorder', sku: 'LAST', qty: 1 },
        });
        expect(conflicts.some((c) => c.eventId === saleA.id)).toBe(false);
        // The notice travels: in box-b's ack when its batch raised it, else
        // in the outcome for publication on box-b's conflicts topic.
        const raisedBy = outcomes.find((o) => o.conflicts.length > 0)!;
        expect(raisedBy.conflicts.map((c) => c.eventId)).toEqual([saleB.id]);
        if (order === 'earlier-first') expect(outcomes[1]!.ack.conflicts).toHaveLength(1);
        else expect(outcomes[1]!.ack.conflicts).toHaveLength(0);
        expect((await ledger.inventory('store-1')).find((i) => i.sku === 'LAST')).toMatchObject({ delta: -2, onHand: -1 });
        expect(await count("SELECT count(*) AS n FROM hq_events WHERE type = 'backorder'")).toBe(1);
        expect((await ledger.devices()).find((d) => d.deviceId === 'box-b')!.openConflicts).toBe(1);
      });
    }

    it('withdraws an oversell when an earlier-HLC restock arrives late, and flags sales in HLC order', async () => {
      const a = new FakeBox({ deviceId: 'box-a', clock: () => T0 - 3 * HOUR });
      const b = new FakeBox({ deviceId: 'box-b', clock: () => T0 - 2 * HOUR });
      b.sale([{ sku: 'LAST', qty: 1 }]);
      b.sale([{ sku: 'LAST', qty: 2 }]);
      await ledger.applyBatch(b.batch(1, 2));
      let open = await ledger.conflicts({ status: 'open' });
      expect(open).toHaveLength(1);
      expect(open[0]).toMatchObject({ seq: 2, compensation: { qty: 2 } });
      a.adjust('LAST', 2);
      const out = await ledger.applyBatch(a.batch(1, 1));
      expect(out.conflicts).toEqual([expect.objectContaining({ deviceId: 'box-b', seq: 2, status: 'resolved', resolution: expect.objectContaining({ decision: 'accept', by: 'hq' }) })]);
      open = await ledger.conflicts({ status: 'open' });
      expect(open).toHaveLength(0);
      // A later earlier-HLC sale makes it fall short again: re-opened, the old resolution kept in the detail.
      a.sale([{ sku: 'LAST', qty: 3 }]);
      await ledger.applyBatch(a.batch(2, 2));
      open = await ledger.conflicts({ status: 'open' });
      expect(open.map((c) => [c.deviceId, c.seq, c.compensation?.qty])).toEqual([
        ['box-b', 1, 1],
        ['box-b', 2, 2],
      ]);
      expect(open[1]!.detail).toMatch(/reopened: the shortfall changed; it was resolved accept by hq/);
    });

    it('flags a price override HQ did not authorize; an authorized manager override passes', async () => {
      const box = new FakeBox({ deviceId: 'box-a', clock });
      box.priceOverride('MILK', 80, TILL);
      box.priceOverride('MILK', 80, MANAGER);
      await ledger.applyBatch(box.batch(1, 2));
      await ledger.addPriceAuthorization({ storeId: 'store-1', sku: 'MILK', minPrice: 70, maxPrice: 100 });
      await ledger.addPriceAuthorization({ storeId: '*', sku: 'BAG', minPrice: null, maxPrice: null });
      box.priceOverride('MILK', 75, MANAGER);
      box.priceOverride('MILK', 50, MANAGER);
      box.priceOverride('BAG', 1, MANAGER);
      const out = await ledger.applyBatch(box.batch(3, 5));
      expect(out.ack.conflicts.map((c) => c.seq)).toEqual([4]);
      const flagged = await ledger.conflicts();
      expect(flagged.map((c) => [c.seq, c.kind, c.status, c.sku])).toEqual([
        [1, 'unauthorized-price-override', 'open', 'MILK'],
        [2, 'unauthorized-price-override', 'open', 'MILK'],
        [4, 'unauthorized-price-override', 'open', 'MILK'],
      ]);
      expect(flagged[0]!.detail).toMatch(/not a manager/);
      expect(flagged[1]!.detail).toMatch(/no HQ price authorization/);
      expect(await count("SELECT count(*) AS n FROM events WHERE disposition = 'applied'")).toBe(5);
    });

    it('holds events older than the review threshold for a human; the watermark still advances; accept applies, reject never does', async () => {
      const box = new FakeBox({ deviceId: 'box-a', clock: () => T0 - 73 * HOUR });
      const old1 = box.sale([{ sku: 'MILK', qty: 2 }]);
      const old2 = box.sale([{ sku: 'MILK', qty: 3 }]);
      box.setClock(() => T0 - 71 * HOUR);
      box.sale([{ sku: 'MILK', qty: 1 }]);
      const out = await ledger.applyBatch(box.batch(1, 3));
      expect(out).toMatchObject({ applied: 1, held: 2, ack: { result: 'applied', lastAppliedSeq: 3 } });
      expect(out.ack.conflicts.map((c) => [c.seq, c.kind, c.status])).toEqual([
        [1, 'stale-event', 'held'],
        [2, 'stale-event', 'held'],
      ]);
      expect((await ledger.inventory('store-1')).find((i) => i.sku === 'MILK')!.delta).toBe(-1);
      expect((await ledger.events('box-a')).map((e) => e.disposition)).toEqual(['held', 'held', 'applied']);
      // A resend is still a duplicate: the held seqs count for the watermark.
      expect((await ledger.applyBatch(box.batch(1, 3))).ack.result).toBe('duplicate');

      const held = await ledger.conflicts({ status: 'held' });
      const c1 = held.find((c) => c.eventId === old1.id)!;
      const c2 = held.find((c) => c.eventId === old2.id)!;
      const at = new Date(T0).toISOString();
      const r1 = await ledger.resolveConflict(c1.id, { decision: 'accept', by: 'ops-anna', at });
      expect(r1).toEqual([expect.objectContaining({ id: c1.id, status: 'resolved', resolution: expect.objectContaining({ decision: 'accept' }) })]);
      await ledger.resolveConflict(c2.id, { decision: 'reject', by: 'ops-anna', at, note: 'test sale' });
      expect((await ledger.inventory('store-1')).find((i) => i.sku === 'MILK')!.delta).toBe(-3);
      expect((await ledger.events('box-a')).map((e) => e.disposition)).toEqual(['applied', 'rejected', 'applied']);
      await expect(ledger.resolveConflict(c1.id, { decision: 'accept', by: 'ops-anna', at })).rejects.toMatchObject({ code: 'TB_STATE_CONFLICT' });
      await expect(ledger.resolveConflict('nope', { decision: 'accept', by: 'ops-anna', at })).rejects.toMatchObject({ code: 'TB_NOT_FOUND' });
      expect((await ledger.devices())[0]!.openConflicts).toBe(0);
    });

    it('oversell shortfalls depend only on the set of moves: backlog batches below live-applied sales, two boxes interleaved by HLC', async () => {
      // Two boxes trade LAST (1 in stock), MILK (50) and BAG (untracked),
      // interleaved in HLC; sales, restocks and a refund. Each box's last
      // sales reach HQ first on the live lane, then the backlogs fill in
      // (many moves per batch below the highest order already applied).
      // The result must equal a walk of all moves in HLC order.
      let t = T0 - 5 * HOUR;
      const a = new FakeBox({ deviceId: 'box-a', clock: () => t });
      const b = new FakeBox({ deviceId: 'box-b', clock: () => t });
      let r = 7;
      const rnd = (n: number) => (r = (r * 1103515245 + 12345) % 2147483648) % n;
      const skus = ['LAST', 'MILK', 'BAG'];
      for (let i = 0; i < 60; i++) {
        t += 60_000;
        const box = i % 2 === 0 ? a : b;
        const k = rnd(10);
        if (k < 7) {
          const sale = box.sale(
            [
              { sku: skus[rnd(3)]!, qty: 1 + rnd(3) },
              { sku: skus[rnd(3)]!, qty: 1 + rnd(20) },
            ].slice(0, 1 + rnd(2)),
          );
          if (rnd(6) === 0) box.refund(sale, [{ line: 0, qty: sale.payload.lines[0]!.qty }]);
        } else box.adjust(skus[rnd(2)]!, 1 + rnd(4));
      }
      await ledger.applyBatch(a.batch(a.events.length - 2, a.events.length, 'live'));
      await ledger.applyBatch(b.batch(b.events.length - 1, b.events.length, 'live'));
      for (let s = 1; s <= b.events.length; s += 7) await ledger.applyBatch(b.batch(s, Math.min(b.events.length, s + 6)));
      for (let s = 1; s <= a.events.length; s += 5) await ledger.applyBatch(a.batch(s, Math.min(a.events.length, s + 4)));

      // The model: every move, walked in HLC order from the initial stock.
      const initial: Record<string, number> = { LAST: 1, MILK: 50, BAG: 0 };
      const sold = new Map<string, { sku: string; qty: number }[]>();
      const moves: { ord: string; key: string; sku: string; delta: number; sale: boolean }[] = [];
      for (const e of [...a.events, ...b.events]) {
        const p = e.payload as { lines: { sku: string; qty: number; line?: number; restock?: boolean }[]; saleId?: string; sku?: string; delta?: number };
        if (e.type === 'sale') {
          sold.set(e.id, p.lines);
          p.lines.forEach((l, i) => moves.push({ ord: moveOrd(e.hlc, e.id, i), key: `${e.id}:${i}`, sku: l.sku, delta: -l.qty, sale: true }));
        } else if (e.type === 'refund') {
          p.lines.forEach((l, i) => moves.push({ ord: moveOrd(e.hlc, e.id, i), key: `${e.id}:${i}`, sku: l.sku, delta: l.qty, sale: false }));
        } else if (e.type === 'inventory.adjusted') moves.push({ ord: moveOrd(e.hlc, e.id, 0), key: `${e.id}:0`, sku: p.sku!, delta: p.delta!, sale: false });
      }
      moves.sort((x, y) => Buffer.compare(Buffer.from(x.ord), Buffer.from(y.ord)));
      const balance = { ...initial };
      const expected = new Map<string, number>();
      for (const m of moves) {
        balance[m.sku] = balance[m.sku]! + m.delta;
        expected.set(m.key, m.sale && m.sku !== 'BAG' ? Math.min(-m.delta, Math.max(0, -balance[m.sku]!)) : 0);
      }
      expect([...expected.values()].filter((x) => x > 0).length).toBeGreaterThan(3);

      const stored = await db.query<{ event_id: string; line: number; shortfall: number }>('SELECT event_id, line, shortfall FROM stock_moves');
      expect(new Map(stored.rows.map((x) => [`${x.event_id}:${x.line}`, x.shortfall]))).toEqual(expected);
      const open = await db.query<{ dedupe_key: string; compensation: { qty: number } }>("SELECT dedupe_key, compensation FROM conflicts WHERE kind = 'oversell' AND status = 'open'");
      expect(new Map(open.rows.map((c) => [c.dedupe_key.slice('oversell:'.length), c.compensation.qty]))).toEqual(new Map([...expected].filter(([, short]) => short > 0)));
      const inv = await ledger.inventory('store-1');
      for (const sku of skus) expect(inv.find((i) => i.sku === sku)!.delta).toBe(balance[sku]! - initial[sku]!);
    });

    it('records a human resolution of an oversell', async () => {
      const a = new FakeBox({ deviceId: 'box-a', clock });
      a.sale([{ sku: 'LAST', qty: 2 }]);
      await ledger.applyBatch(a.batch(1, 1));
      const [c] = await ledger.conflicts();
      const changed = await ledger.resolveConflict(c!.id, { decision: 'substitute', substituteSku: 'MILK', by: 'ops', at: new Date(T0).toISOString() });
      expect(changed[0]).toMatchObject({ status: 'resolved', resolution: { decision: 'substitute', substituteSku: 'MILK' } });
    });

    it('versions catalog updates per device: full on first contact, then deltas', async () => {
      const box = new FakeBox({ deviceId: 'box-a', clock });
      box.sale([{ sku: 'MILK' }]);
      await ledger.applyBatch(box.batch(1, 1));
      const first = await catalog.change([{ op: 'price', sku: 'MILK', price: 129 }]);
      expect(first).toEqual([{ deviceId: 'box-a', update: expect.objectContaining({ kind: 'full', version: 1 }) }]);
      const second = await catalog.change([{ op: 'price', sku: 'MILK', price: 139 }]);
      expect(second[0]!.update).toMatchObject({ kind: 'delta', version: 2, baseVersion: 1, changes: [{ op: 'price', sku: 'MILK', price: 139 }] });
      const resync = await catalog.fullFor('box-a');
      expect(resync.update).toMatchObject({ kind: 'full', version: 3 });
      expect((await catalog.catalog()).items.find((i) => i.sku === 'MILK')!.price).toBe(139);
    });
  });
}
