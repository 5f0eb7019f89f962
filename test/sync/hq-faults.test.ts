import { describe, expect, it } from 'vitest';
import { call } from '../../harness/box.ts';
import { cloudMatrix } from './matrix.ts';
import { PartitionProxy } from './proxy.ts';
import type { RealHq } from '../../harness/real-hq.ts';
import { deviceIdOf, describeHistory, drain, history, inventoryDiff, startBoxOn, startCloud } from './scenario.ts';
import { syncStatus, trade } from './trading.ts';

const [aedes, mosquitto] = cloudMatrix();

describe('HQ-side faults and conflicts', { timeout: 240_000 }, () => {
  it('HQ kill -9 between its commit and its ack: the lost ack costs a resend that HQ skips as a duplicate', async () => {
    const cloud = await startCloud({ ...aedes!, hqEnv: { HQ_TEST_KILL_AFTER_COMMIT: '3' } });
    const hq = cloud.hq as RealHq;
    cloud.proxy.cut('reset');
    const box = await startBoxOn(cloud, undefined, { TILLBOX_CLOUD_BATCH_MAX_EVENTS: '50', TILLBOX_CLOUD_MAX_IN_FLIGHT: '1', TILLBOX_CLOUD_ACK_TIMEOUT_MS: '3000' });
    try {
      expect((await trade(box.port, 600, { seed: 11, workers: 8 })).failures).toEqual([]);
      const deviceId = deviceIdOf(box);
      cloud.proxy.restore();
      await hq.exited(); // killed itself right after the 3rd COMMIT, before that ack
      expect(hq.output()).toMatch(/HQ_TEST_KILL_AFTER_COMMIT: killing after commit/);
      const before = await syncStatus(box.port);
      expect(before.lastAckedSeq).toBeLessThan(150); // the 3rd batch's ack never came
      await hq.restart({ HQ_TEST_KILL_AFTER_COMMIT: '2' }); // and once more
      await hq.exited();
      await hq.restart();
      await drain(box, cloud, deviceId);
      const report = await history(box, cloud, deviceId);
      expect(report.ok, describeHistory(report)).toBe(true);
      expect(report.hqEvents).toBe(600);
      expect(await inventoryDiff([box], cloud)).toEqual([]);
      const after = await syncStatus(box.port);
      expect((after.lane as { duplicates: number; ackTimeouts: number }).duplicates).toBeGreaterThan(0);
    } finally {
      await box.stop();
      await cloud.close();
    }
  });

  it('two boxes sell the last unit during a partition: exactly one oversell conflict, on the later sale by HLC, whatever the arrival order', async () => {
    const cloud = await startCloud(mosquitto!);
    const proxyB = new PartitionProxy({ port: Number(new URL(cloud.brokerUrl).port) });
    await proxyB.start();
    const a = await startBoxOn(cloud);
    const b = await startBoxOn(cloud, undefined, { TILLBOX_CLOUD_URL: proxyB.url });
    try {
      const idA = deviceIdOf(a);
      const idB = deviceIdOf(b);
      const sku = 'COFFEE-500';
      // HQ's store stock of the item goes to 1 (catalog 50, A books 49 as damaged).
      const adj = await call(a.port, 'POST', '/api/v1/inventory/adjustments', { sku, delta: -49, reason: 'damaged' }, { 'idempotency-key': 'adj-49' });
      expect(adj.status).toBe(201);
      await drain(a, cloud, idA);

      cloud.proxy.cut('reset');
      proxyB.cut('reset');
      const sale = (port: number, key: string) => call(port, 'POST', '/api/v1/sales', { lines: [{ sku, qty: 1 }], tenders: [{ type: 'cash', amount: 10_000 }] }, { 'idempotency-key': key });
      const first = await sale(a.port, 'last-unit-a');
      await new Promise((r) => setTimeout(r, 20)); // B's sale is later by HLC
      const second = await sale(b.port, 'last-unit-b');
      expect([first.status, second.status]).toEqual([201, 201]);
      const saleA = first.json<{ id: string; hlc: string }>();
      const saleB = second.json<{ id: string; hlc: string }>();
      expect(saleB.hlc > saleA.hlc).toBe(true);

      // The later sale reaches HQ first; the earlier one arrives after it.
      proxyB.restore();
      await drain(b, cloud, idB);
      cloud.proxy.restore();
      await drain(a, cloud, idA);

      const oversell = (await cloud.hq.conflicts()).filter((c) => c.kind === 'oversell' && c.sku === sku && c.status !== 'resolved');
      expect(oversell.map((c) => c.eventId)).toEqual([saleB.id]);
      expect(oversell[0]!.deviceId).toBe(idB);
      // HQ tells box B (conflicts topic); box A has none.
      for (let i = 0; (await syncStatus(b.port)).conflicts !== 1; i++) {
        if (i > 300) throw new Error('box B never heard of its oversell conflict');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await syncStatus(a.port)).conflicts).toBe(0);
      for (const [box, id] of [
        [a, idA],
        [b, idB],
      ] as const) {
        const r = await history(box, cloud, id);
        expect(r.ok, describeHistory(r)).toBe(true);
      }
    } finally {
      await a.stop();
      await b.stop();
      await proxyB.close();
      await cloud.close();
    }
  });
});
