import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHq, type RunningHq } from '../../cloud/hq/hq.ts';
import { PgliteDb } from '../../cloud/ledger/pglite-db.ts';
import { silentLogger } from '../../cloud/log.ts';
import { FakeBox } from '../../cloud/testing.ts';
import { connectBox } from './box-client.ts';

// An ingest worker parses and validates the next batch while the one before is
// in the database (cloud/ingest/worker.ts). Batches a box sends back to back
// must still be applied one after the other, in the order they arrived, each
// answered after its own commit.

describe('HQ ingest pipeline (one worker, embedded aedes + PGlite)', () => {
  let hq: RunningHq;
  let db: PgliteDb;
  beforeAll(async () => {
    db = new PgliteDb();
    hq = await startHq({ db, log: silentLogger(), config: { mqttPort: 0, httpPort: 0, workers: 1 } });
  }, 60_000);
  afterAll(async () => {
    await hq?.stop();
    await db?.close();
  });

  it('applies batches that arrive back to back in arrival order and answers a malformed one among them in its place', async () => {
    const fake = new FakeBox({ deviceId: 'burst-box' });
    const box = await connectBox(hq.mqttUrl, 'burst-box', 4);
    try {
      for (let i = 0; i < 40; i++) fake.sale([{ sku: 'MILK-1L', qty: 1 }]);
      const bad = { ...fake.batch(21, 21), cardNumber: '4111' };
      const acks = await Promise.all([
        box.send(fake.batch(1, 10)),
        box.send(fake.batch(11, 20)),
        box.sendRaw(JSON.stringify(bad), bad.batchId),
        box.send(fake.batch(21, 30)),
        box.send(fake.batch(31, 40)),
      ]);
      expect(acks.map((a) => [a.result, a.lastAppliedSeq])).toEqual([
        ['applied', 10],
        ['applied', 20],
        ['rejected', 20],
        ['applied', 30],
        ['applied', 40],
      ]);
      const r = await fetch(`${hq.httpUrl}/api/v1/devices/burst-box/events?after=0&limit=100`);
      const { events } = (await r.json()) as { events: { id: string }[] };
      expect(events.map((e) => e.id)).toEqual(fake.events.map((e) => e.id));
    } finally {
      await box.close();
    }
  });
});
