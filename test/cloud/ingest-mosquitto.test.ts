import { startHq } from '../../cloud/hq/hq.ts';
import { silentLogger } from '../../cloud/log.ts';
import { startMosquitto } from '../../harness/mosquitto.ts';
import { startPostgres } from '../../harness/postgres.ts';
import { ingestSuite } from './ingest.suite.ts';

// Production shape: Mosquitto 2 (MQTT 5, shared subscriptions) with three
// ingest workers, and PostgreSQL 15.

ingestSuite('Mosquitto 2 (MQTT 5, 3 workers) + PostgreSQL 15', async () => {
  const [broker, pg] = await Promise.all([startMosquitto(), startPostgres()]);
  const hq = await startHq({ log: silentLogger(), config: { mqttUrl: broker.url, databaseUrl: pg.url, httpPort: 0, workers: 3 } });
  return {
    hq,
    protocol: 5,
    async stop() {
      await hq.stop();
      await broker.cleanup();
      await pg.stop();
    },
  };
});
