import { describe, expect, it } from 'vitest';
import { cloudMatrix } from './matrix.ts';
import { deviceIdOf, describeHistory, drain, history, inventoryDiff, startBoxOn, startCloud } from './scenario.ts';
import { syncStatus, trade } from './trading.ts';

// Issue 3 §3 "Outage": 45 minutes of store trading offline, time-compressed
// (a busy store does ~1 operation/s: ~2,700 sales, refunds and inventory
// adjustments), then the link comes back. HQ must hold each event exactly
// once and its inventory projection must equal the box's.

for (const m of cloudMatrix()) {
  describe(`outage over ${m.broker} + ${m.db}`, { timeout: 240_000 }, () => {
    it('45 minutes offline, then reconnect: every event exactly once at HQ, inventory equal', async () => {
      const cloud = await startCloud(m);
      cloud.proxy.cut('reset');
      const box = await startBoxOn(cloud);
      try {
        const ops = m.broker === 'aedes' ? 2700 : 1200;
        const t = await trade(box.port, ops, { seed: 45, workers: 8 });
        expect(t.failures).toEqual([]);
        expect(t.refunds).toBeGreaterThan(0);
        expect(t.adjustments).toBeGreaterThan(0);
        const offline = await syncStatus(box.port);
        expect(offline).toMatchObject({ connected: false, pending: ops });
        expect(offline.oldestPendingAgeMs).toBeGreaterThan(0);

        cloud.proxy.restore();
        const deviceId = deviceIdOf(box);
        await drain(box, cloud, deviceId);
        const report = await history(box, cloud, deviceId);
        expect(report.ok, describeHistory(report)).toBe(true);
        expect(report.hqEvents).toBe(ops);
        expect(await inventoryDiff([box], cloud)).toEqual([]);
        const s = await syncStatus(box.port);
        expect(s).toMatchObject({ connected: true, pending: 0, oldestPendingAgeMs: 0, dropped: 0 });
      } finally {
        await box.stop();
        await cloud.close();
      }
    });
  });
}
