import { startHq } from '../../cloud/hq/hq.ts';
import { PgliteDb } from '../../cloud/ledger/pglite-db.ts';
import { silentLogger } from '../../cloud/log.ts';
import { ingestSuite } from './ingest.suite.ts';

// The demo configuration: HQ's embedded aedes cloud broker (MQTT 3.1.1, no
// shared subscriptions: one subscribing worker) and PGlite.

ingestSuite('embedded aedes (MQTT 3.1.1) + PGlite', async () => {
  const db = new PgliteDb();
  const hq = await startHq({ db, log: silentLogger(), config: { mqttPort: 0, httpPort: 0, workers: 2 } });
  return {
    hq,
    protocol: 4,
    async stop() {
      await hq.stop();
      await db.close();
    },
  };
});
