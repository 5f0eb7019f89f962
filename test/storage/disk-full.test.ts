import { openSync, writeSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { call, managerAuth, postSale, readJournal, startBox, type BoxProcess } from '../../harness/box.ts';
import { canMountSmallDisk, mountSmallDisk } from '../support/small-disk.ts';
import { verifyJournal } from '../../appliance/journal/verify.ts';
import { clientIdempotencyKey } from '../../contract/ids.ts';
import { tillbox } from '../support/cli.ts';
import { startMosquitto } from '../../harness/mosquitto.ts';
import { startRealHq } from '../../harness/real-hq.ts';
import { checkHistory, describeHistory } from '../../harness/history.ts';
import { Tills } from '../faults/tills.ts';

// Issue 8's reproduction: the state dir on a 24 MB filesystem that something
// else (logs, a runaway file) fills up. Sales are refused while it is full;
// once space is back the box sells again by itself, and every sale it
// acknowledged — before, during and after — is still there after a restart.

const SALE = { lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 500 }] };

/** Fills the disk in 64 KiB writes until ENOSPC, then keeps it full until stopped. */
function fillDisk(dir: string): { stop(): Promise<void>; full: Promise<void> } {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let stopped = false;
  let markFull!: () => void;
  const full = new Promise<void>((r) => (markFull = r));
  const loop = (async () => {
    while (!stopped) {
      try {
        writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        markFull();
        await sleep(5);
        continue;
      }
      await sleep(0);
    }
  })();
  return {
    full,
    async stop() {
      stopped = true;
      await loop;
      closeSync(fd);
      rmSync(file, { force: true });
    },
  };
}

describe.skipIf(!canMountSmallDisk)('a box whose disk fills up (needs root for a tmpfs)', () => {
  const disks: Array<{ unmount(): void }> = [];
  afterAll(() => disks.forEach((d) => d.unmount()));

  it('refuses sales while the disk is full, sells again by itself once space returns, and loses no acknowledged sale', async () => {
    const { failures } = await diskFullEpisodes({}, 1);
    expect(failures.journal + failures.broker + failures.refusedByGuard).toBeGreaterThan(0);
  }, 180_000);

  it('survives ENOSPC inside the journal and the broker store themselves (no threshold, no reserve), three times over', async () => {
    const { failures } = await diskFullEpisodes({ TILLBOX_STORAGE_MIN_FREE_MB: '1', TILLBOX_STORAGE_RESERVE_MB: '0' }, 3);
    // The stores really hit ENOSPC and reopened (otherwise this test proves nothing).
    expect(failures.journal).toBeGreaterThan(0);
  }, 240_000);

  it('fills up repeatedly while a sync backlog drains to HQ: HQ ends with every box event exactly once', async () => {
    const broker = await startMosquitto();
    const hq = await startRealHq(broker.url, 'pglite');
    const disk = mountSmallDisk(24);
    disks.push(disk);
    const stateDir = join(disk.dir, 'state');
    const env = { TILLBOX_CLOUD_URL: broker.url };
    const box: BoxProcess = await startBox(stateDir, env);
    const tills = new Tills('sync');
    try {
      // A backlog: the cloud broker is down while the box sells.
      await broker.stop();
      for (let i = 0; i < 400; i++) expect(await tills.sell(box.port)).toBe(201);
      await broker.restart();
      for (let episode = 0; episode < 2; episode++) {
        const filler = fillDisk(disk.dir);
        let stop = false;
        const selling = tills.run(box.port, 4, () => stop);
        await filler.full;
        await sleep(1000);
        await filler.stop();
        await sleep(1500);
        stop = true;
        await selling;
      }
      await tills.settle(box.port);
      const deviceId = readFileSync(join(stateDir, 'device-id'), 'utf8').trim();
      const lastSeq = (await readJournal(box.port)).length;
      const t0 = Date.now();
      while ((await hq.watermark(deviceId)) < lastSeq) {
        expect(Date.now() - t0, 'HQ did not catch up within 60 s').toBeLessThan(60_000);
        await sleep(200);
      }
      const verdict = await tills.verdict(box);
      expect(verdict.lost).toEqual([]);
      expect(verdict.duplicated).toEqual([]);
      expect(verdict.seqGaps).toBe(0);
      const history = checkHistory(await readJournal(box.port).then((es) => es.map((e) => ({ id: e.id, seq: e.seq, deviceId }))), await hq.events(deviceId));
      expect(history.ok, describeHistory(history)).toBe(true);
    } finally {
      await box.stop();
      await hq.stop();
      await broker.cleanup();
    }
  }, 240_000);

  async function diskFullEpisodes(env: Record<string, string>, episodes: number) {
    const disk = mountSmallDisk(24);
    disks.push(disk);
    const stateDir = join(disk.dir, 'state');
    let box: BoxProcess = await startBox(stateDir, env);
    const acked = new Map<string, { id: string; seq: number }>();
    const unknown = new Set<string>();
    let n = 0;
    const sell = async (): Promise<number> => {
      const key = `k-${n++}`;
      unknown.add(key);
      const r = await postSale(box.port, key, SALE);
      if (r.status === 201) {
        acked.set(key, { id: r.json().id, seq: r.json().seq });
        unknown.delete(key);
      } else {
        expect(r.status, r.body).toBe(503);
        expect(r.headers['content-type']).toContain('application/problem+json');
        expect(r.headers['retry-after']).toBeDefined();
      }
      return r.status;
    };

    for (let i = 0; i < 50; i++) expect(await sell()).toBe(201);
    for (let episode = 0; episode < episodes; episode++) {
      const filler = fillDisk(disk.dir);
      // Four tills keep selling while the disk fills; stop once each has been refused.
      let refused = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let tries = 0; tries < 5000; tries++) {
            if ((await sell()) === 503) {
              refused++;
              return;
            }
          }
        }),
      );
      await filler.full;
      expect(refused).toBe(4);
      // While full: still refused, and /healthz says why.
      expect(await sell()).toBe(503);
      const health = await call(box.port, 'GET', '/healthz');
      expect(health.status).toBe(503);
      expect(health.json().reasons.length).toBeGreaterThan(0);
      if (episode === 0) {
        // The installer's view: doctor names the full disk, and so does the retained box status.
        const doc = await tillbox(['doctor', '--demo', '--json'], { TILLBOX_STATE_DIR: stateDir, ...env });
        const selling = JSON.parse(doc.stdout).checks.find((c: { name: string }) => c.name === 'selling');
        expect(selling?.status, doc.stdout).toBe('fail');
        expect(selling.detail).toMatch(/disk is full|reopening/);
        expect(doc.code).toBe(1);
        const retained = await boxStatus(box);
        expect(retained.selling).toBe(false);
      }
      await filler.stop();

      // Space is back: selling resumes without a restart.
      const t0 = Date.now();
      while ((await sell()) !== 201) {
        expect(Date.now() - t0, 'selling did not resume within 30 s').toBeLessThan(30_000);
        await sleep(200);
      }
      for (let i = 0; i < 50; i++) expect(await sell()).toBe(201);
      expect((await call(box.port, 'GET', '/healthz')).status).toBe(200);
    }

    // The local broker works again: a kiosk connects and hears a new sale.
    const kiosk = await mqtt.connectAsync(`mqtt://127.0.0.1:${runtimeMqttPort(box)}`, { clientId: 'anonymous-kiosk-after-full', connectTimeout: 10_000, reconnectPeriod: 0 });
    const heard = new Promise<string>((r) => kiosk.on('message', (t) => r(t)));
    await kiosk.subscribeAsync('store/demo-store/pos/#', { qos: 1 });
    expect(await sell()).toBe(201);
    expect(await heard).toMatch(/\/pos\//);
    await kiosk.endAsync();

    // Every POS event was published (the publisher never stalled).
    let status = (await call(box.port, 'GET', '/api/v1/status', undefined, managerAuth(stateDir))).json();
    for (let i = 0; i < 50 && status.publisher.cursor !== status.journal.lastSeq; i++) {
      await sleep(100);
      status = (await call(box.port, 'GET', '/api/v1/status', undefined, managerAuth(stateDir))).json();
    }
    expect(status.publisher.cursor).toBe(status.journal.lastSeq);
    expect(status.health.state).toBe('ok');
    // The retained status follows within seconds (its publish is retried while the broker store recovers).
    for (let i = 0; i < 50 && !(await boxStatus(box)).selling; i++) await sleep(200);
    expect((await boxStatus(box)).selling).toBe(true);
    const failures = {
      journal: status.health.journal.failedBatches as number,
      broker: status.health.broker.failedBatches as number,
      refusedByGuard: status.health.storage.fullEpisodes as number,
    };

    await box.stop();
    box = await startBox(stateDir);
    try {
      for (const key of unknown) {
        const r = await postSale(box.port, key, SALE);
        expect([200, 201]).toContain(r.status);
      }
      const events = await readJournal(box.port);
      const count = new Map<string, number>();
      for (const e of events) count.set(clientIdempotencyKey(e.idempotencyKey), (count.get(clientIdempotencyKey(e.idempotencyKey)) ?? 0) + 1);
      const lost = [...acked.keys()].filter((k) => count.get(k) !== 1);
      expect(lost, `${lost.length} of ${acked.size} acknowledged sales lost or doubled`).toEqual([]);
      for (const [key, ack] of acked) {
        const e = events.find((x) => clientIdempotencyKey(x.idempotencyKey) === key)!;
        expect({ id: e.id, seq: e.seq }).toEqual(ack);
      }
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    } finally {
      await box.stop();
    }
    const verified = await verifyJournal({ dir: join(stateDir, 'journal') });
    expect(verified.state, verified.message).toBe('ok');
    return { failures, acked: acked.size };
  }
});

/** The retained store/{storeId}/box/status as a kiosk sees it (waits for a current one). */
async function boxStatus(box: BoxProcess): Promise<{ selling: boolean; state: string }> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${runtimeMqttPort(box)}`, {
    clientId: `anonymous-status-${Math.random().toString(36).slice(2)}`,
    connectTimeout: 10_000,
    reconnectPeriod: 0,
  });
  try {
    const got = new Promise<{ selling: boolean; state: string }>((r) => client.on('message', (_t, p) => r(JSON.parse(p.toString()))));
    await client.subscribeAsync('store/demo-store/box/status', { qos: 1 });
    return await got;
  } finally {
    await client.endAsync();
  }
}

function runtimeMqttPort(box: BoxProcess): number {
  const m = /MQTT\s+mqtt:\/\/[^:]+:(\d+)/.exec(box.output());
  if (!m) throw new Error(`no MQTT port in the banner:\n${box.output()}`);
  return Number(m[1]);
}
