import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHq, type RunningHq } from '../../cloud/hq/hq.ts';
import { silentLogger } from '../../cloud/log.ts';
import { FakeBox } from '../../cloud/testing.ts';
import { startMosquitto, type Mosquitto } from '../../harness/mosquitto.ts';
import { startPostgres, type Postgres } from '../../harness/postgres.ts';
import { connectBox } from './box-client.ts';

// The cloud broker restarts (and, separately, is killed) under HQ: its
// workers reconnect and re-join the shared subscription by themselves, and a
// batch whose ack was lost to the outage is a duplicate when resent.

describe('HQ across cloud broker restarts (Mosquitto 2)', () => {
  let broker: Mosquitto;
  let db: Postgres;
  let hq: RunningHq;

  beforeAll(async () => {
    [broker, db] = await Promise.all([startMosquitto(), startPostgres()]);
    hq = await startHq({ log: silentLogger(), config: { mqttUrl: broker.url, databaseUrl: db.url, httpPort: 0, workers: 2 } });
  }, 180_000);
  afterAll(async () => {
    await hq?.stop();
    await broker?.cleanup();
    await db?.stop();
  });

  it('keeps applying each event once after a restart and after a kill -9 of the broker', async () => {
    const fake = new FakeBox({ deviceId: 'restart-box' });
    for (let i = 0; i < 30; i++) fake.sale([{ sku: 'MILK-1L', qty: 1 }]);
    const box = await connectBox(broker.url, fake.deviceId, 5);
    try {
      expect(await box.send(fake.batch(1, 10))).toMatchObject({ result: 'applied', lastAppliedSeq: 10 });
      await broker.restart();
      expect(await box.sendUntilAcked(() => fake.batch(1, 20))).toMatchObject({ lastAppliedSeq: 20 });
      await broker.kill();
      await broker.restart();
      expect(await box.sendUntilAcked(() => fake.batch(11, 30))).toMatchObject({ lastAppliedSeq: 30 });
      expect(await box.send(fake.batch(1, 30))).toMatchObject({ result: 'duplicate', lastAppliedSeq: 30 });
      const { events } = (await (await fetch(`${hq.httpUrl}/api/v1/devices/restart-box/events?limit=1000`)).json()) as { events: { id: string }[] };
      expect(events.map((e) => e.id)).toEqual(fake.events.map((e) => e.id));
    } finally {
      await box.close();
    }
  }, 180_000);
});
