import { describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import pg from 'pg';
import { startMosquitto } from '../../harness/mosquitto.ts';
import { startPostgres } from '../../harness/postgres.ts';

describe('test support: real servers', () => {
  it('starts PostgreSQL 15 on a free port and answers a query', async () => {
    const server = await startPostgres();
    try {
      const url = await server.createDatabase('support_check');
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const r = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      await client.end();
      expect(r.rows[0]!.v).toMatch(/^15\./);
    } finally {
      await server.stop();
    }
  });

  it('starts Mosquitto 2 and restarts it on the same port', async () => {
    const broker = await startMosquitto();
    try {
      const roundTrip = async () => {
        const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
        await c.subscribeAsync('t/x', { qos: 1 });
        const got = new Promise<string>((r) => c.once('message', (_t, p) => r(p.toString())));
        await c.publishAsync('t/x', 'hi', { qos: 1 });
        expect(await got).toBe('hi');
        await c.endAsync();
      };
      await roundTrip();
      await broker.restart();
      await roundTrip();
    } finally {
      await broker.cleanup();
    }
  });
});
