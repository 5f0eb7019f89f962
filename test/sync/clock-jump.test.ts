import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../appliance/config/load.ts';
import { LevelJournal } from '../../appliance/journal/level-journal.ts';
import { silentLogger } from '../../appliance/log.ts';
import { createDemoCatalog } from '../../appliance/pos/demo-catalog.ts';
import { PosService } from '../../appliance/pos/pos-service.ts';
import { CloudBridge } from '../../appliance/sync/cloud-bridge.ts';
import { cloudMatrix } from './matrix.ts';
import { checkHistory, describeHistory } from '../../harness/history.ts';
import { drainWithLiveness } from './liveness.ts';
import { startCloud } from './scenario.ts';

// Issue 3 §3: the box's clock jumps ±5 minutes (NTP step, RTC reset) while it
// sells and syncs. `now` is injected into the journal, the POS and the
// bridge. Seqs and HLCs stay monotonic, nothing is lost or doubled, no ages
// go negative, and HQ does not mistake anything for stale.

describe('clock jumps', { timeout: 120_000 }, () => {
  it('±5 minute jumps while selling and draining: history intact, HLC monotonic, ages never negative', async () => {
    const [aedes] = cloudMatrix();
    const cloud = await startCloud(aedes!);
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-clock-'));
    let offset = 0;
    const now = () => Date.now() + offset;
    const log = silentLogger();
    const deviceId = 'clock-box';
    const journal = new LevelJournal({ dir: join(dir, 'journal'), deviceId, storeId: 'demo-store', log, now });
    await journal.start();
    const pos = new PosService({ journal, catalog: createDemoCatalog(), log, storeId: 'demo-store', currency: 'EUR', now });
    await pos.start();
    const config = validateConfig({ version: 1, cloud: { url: cloud.boxUrl, backoffBaseMs: 50, backoffMaxMs: 500, batchMaxEvents: 50, ackTimeoutMs: 3000 } }).cloud;
    const bridge = new CloudBridge({ journal, config, deviceId, storeId: 'demo-store', stateDir: dir, log, now });
    await bridge.start();
    const ages: number[] = [];
    try {
      let k = 0;
      const sell = async (n: number) => {
        for (let i = 0; i < n; i++) {
          await pos.sell({ lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 1000 }] }, `clock-${k++}`);
          if (i % 25 === 0) ages.push((await bridge.status()).oldestPendingAgeMs);
        }
      };
      cloud.proxy.cut('reset');
      await sell(150);
      offset = 5 * 60_000; // forward 5 min while offline
      await sell(150);
      cloud.proxy.restore();
      offset = -5 * 60_000; // back 10 min while draining
      await sell(150);
      offset = 0;
      await sell(50);
      await drainWithLiveness(() => bridge.status(), { also: async () => (await cloud.hq.events(deviceId)).length >= 500 });

      const events = await journal.read({ after: 0, limit: 1000 });
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
      for (let i = 1; i < events.length; i++) expect(events[i]!.hlc > events[i - 1]!.hlc).toBe(true);
      const report = checkHistory(
        events.map((e) => ({ id: e.id, seq: e.seq, deviceId })),
        await cloud.hq.events(deviceId),
      );
      expect(report.ok, describeHistory(report)).toBe(true);
      expect(ages.every((a) => a >= 0)).toBe(true);
      expect((await cloud.hq.conflicts()).filter((c) => c.kind === 'stale-event')).toEqual([]);
    } finally {
      await bridge.stop();
      await pos.stop();
      await journal.stop();
      await cloud.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
