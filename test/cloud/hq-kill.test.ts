import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeBox } from '../../cloud/testing.ts';
import { startMosquitto, type Mosquitto } from '../../harness/mosquitto.ts';
import { startPostgres, type Postgres } from '../../harness/postgres.ts';
import { connectBox } from './box-client.ts';

// HQ killed with SIGKILL between its COMMIT and its ack (HQ_TEST_KILL_AFTER_COMMIT):
// the box never hears the ack, resends, and the restarted HQ answers
// `duplicate` — every event held exactly once. HQ runs as `bin/tillbox-hq`
// in a child process against Mosquitto 2 and PostgreSQL 15.

const ROOT = resolve(import.meta.dirname, '../..');

interface HqChild {
  child: ChildProcess;
  httpUrl: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

async function spawnHq(env: Record<string, string>): Promise<HqChild> {
  const child = spawn(resolve(ROOT, 'bin/tillbox-hq'), [], {
    cwd: ROOT,
    env: { ...process.env, HQ_HTTP_PORT: '0', HQ_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const m = /tillbox-hq ready http=(\S+)/.exec(out);
    if (m) return { child, httpUrl: m[1]!, exited, output: () => out };
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`HQ exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`HQ did not start:\n${out}`);
    await sleep(20);
  }
}

describe('HQ kill -9 between commit and ack', () => {
  let broker: Mosquitto;
  let db: Postgres;
  const children: HqChild[] = [];

  beforeAll(async () => {
    [broker, db] = await Promise.all([startMosquitto(), startPostgres()]);
  }, 120_000);
  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await broker?.cleanup();
    await db?.stop();
  });

  it('the lost ack makes the resend a duplicate: each event once', async () => {
    const env = { HQ_MQTT_URL: broker.url, HQ_DATABASE_URL: db.url, HQ_WORKERS: '2' };
    const first = await spawnHq({ ...env, HQ_TEST_KILL_AFTER_COMMIT: '1' });
    children.push(first);
    const deviceId = 'kill-box';
    const fake = new FakeBox({ deviceId });
    for (let i = 0; i < 50; i++) {
      if (i % 10 === 9) fake.refund(fake.events.at(-1) as never, [{ line: 0, qty: 1 }]);
      else fake.sale([{ sku: 'MILK-1L', qty: 1 }]);
    }
    const box = await connectBox(broker.url, deviceId, 5);
    try {
      await box.client.publishAsync(`tillbox/v1/${deviceId}/events`, JSON.stringify(fake.batch(1, 50)), { qos: 1 });
      const ended = await first.exited;
      expect(ended.signal).toBe('SIGKILL');
      expect(first.output()).toMatch(/killing after commit/);
      expect(box.acks).toEqual([]);

      // The commit is durable although no ack went out.
      const client = new pg.Client({ connectionString: db.url });
      client.on('error', () => {});
      await client.connect();
      const count = async () => Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE device_id = $1', [deviceId])).rows[0]!.n);
      expect(await count()).toBe(50);

      const second = await spawnHq(env);
      children.push(second);
      // The box resends (new batch id) because it never got an ack.
      const resend = await box.send(fake.batch(1, 50));
      expect(resend).toMatchObject({ result: 'duplicate', lastAppliedSeq: 50, appliedAbove: [] });
      for (let i = 0; i < 10; i++) fake.sale([{ sku: 'MILK-1L', qty: 1 }]);
      expect(await box.send(fake.batch(41, 60))).toMatchObject({ result: 'applied', lastAppliedSeq: 60 });

      // History check: every event id exactly once, none lost, none unseen.
      const rows = (await client.query<{ id: string; seq: string }>('SELECT id, seq FROM events WHERE device_id = $1 ORDER BY seq', [deviceId])).rows;
      await client.end();
      const ids = rows.map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(fake.events.map((e) => e.id));
      const inv = (await (await fetch(`${second.httpUrl}/api/v1/inventory?storeId=store-1`)).json()) as { inventory: { sku: string; delta: number }[] };
      expect(inv.inventory.find((i) => i.sku === 'MILK-1L')!.delta).toBe(-(55 - 5));
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    } finally {
      await box.close();
    }
  }, 240_000);
});
