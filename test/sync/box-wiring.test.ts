import { describe, expect, it } from 'vitest';
import { FakeHq, startTestBroker } from '../../appliance/sync/testing.ts';
import { readJournal, startBox } from '../../harness/box.ts';
import { checkHistory, describeHistory } from '../../harness/history.ts';
import { drainWithLiveness } from './liveness.ts';
import { syncStatus, trade } from './trading.ts';

// Core wiring: a real box process with TILLBOX_CLOUD_URL syncs what it sells
// and reports it on GET /api/v1/sync/status (HQ played by the contract model).

describe('box with a cloud URL', { timeout: 120_000 }, () => {
  it('syncs sales made over HTTP and reports progress on /api/v1/sync/status', async () => {
    const broker = await startTestBroker();
    const hq = new FakeHq({ url: broker.url });
    await hq.start();
    const box = await startBox(undefined, { TILLBOX_CLOUD_URL: broker.url, TILLBOX_CLOUD_BACKOFF_MAX_MS: '1000' });
    try {
      const t = await trade(box.port, 200, { seed: 7 });
      expect(t.failures).toEqual([]);
      await drainWithLiveness(() => syncStatus(box.port));
      const s = await syncStatus(box.port);
      expect(s).toMatchObject({ connected: true, pending: 0, oldestPendingAgeMs: 0, conflicts: 0, dropped: 0 });
      expect(typeof s.lastAckAt).toBe('string');
      const journal = await readJournal(box.port);
      const deviceId = [...hq.ledgers.keys()][0]!;
      const report = checkHistory(
        journal.map((e) => ({ id: e.id, seq: e.seq, deviceId })),
        [...hq.ledger(deviceId).events.values()].map((e) => ({ id: e.id, seq: e.seq, deviceId: e.deviceId })),
      );
      expect(report.ok, describeHistory(report)).toBe(true);
      expect(report.boxEvents).toBe(200);
    } finally {
      await box.stop();
      await hq.stop();
      await broker.close();
    }
  });
});
