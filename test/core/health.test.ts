import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthDocument } from '../../contract/health.ts';
import { compileSchema, describeErrors } from '../../lib/validate.ts';
import { call, managerAuth, postSale, startBox, type BoxProcess } from '../../harness/box.ts';
import { startMosquitto, type Mosquitto } from '../../harness/mosquitto.ts';
import { startRealHq, type RealHq } from '../../harness/real-hq.ts';

// Fleet health from a real core: the document on the cloud broker at the
// configured interval, GET /api/v1/health, and GET /metrics in Prometheus text.

const check = compileSchema(HealthDocument);
const KEEPALIVE_S = 5;
const BOX_ENV = (url: string) => ({ TILLBOX_CLOUD_URL: url, TILLBOX_HEALTH_INTERVAL_S: '1', TILLBOX_CLOUD_KEEPALIVE_SEC: String(KEEPALIVE_S) });
type Fleet = Array<{ deviceId: string; online: boolean; health: { journal: { lastSeq: number } } | null; alerts: Array<{ kind: string }> }>;
const fleet = async (hq: RealHq): Promise<Fleet> => (await fetch(`${hq.httpUrl}/api/v1/fleet`)).json() as Promise<Fleet>;
/**
 * Prometheus text exposition format 0.0.4: # HELP / # TYPE comments and `name{labels} value`
 * samples (Prometheus reads values with Go's ParseFloat: NaN in any case, as prom-client's
 * `Nan` for a histogram without samples yet).
 */
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|[Nn]a[Nn]|[+-]Inf)( -?[0-9]+)?$/;

describe('fleet health from a real core', { timeout: 60_000 }, () => {
  let mosquitto: Mosquitto;
  let hq: RealHq;
  let box: BoxProcess;
  const docs: unknown[] = [];
  let watcher: mqtt.MqttClient;

  beforeAll(async () => {
    mosquitto = await startMosquitto();
    watcher = await mqtt.connectAsync(mosquitto.url, { clientId: 'health-watcher' });
    watcher.on('message', (_t, p) => docs.push(JSON.parse(p.toString())));
    await watcher.subscribeAsync('fleet/+/health', { qos: 1 });
    hq = await startRealHq(mosquitto.url, 'pglite', { HQ_ALERT_OFFLINE_S: '1' });
    box = await startBox(undefined, BOX_ENV(mosquitto.url));
  }, 60_000);

  afterAll(async () => {
    await box?.stop();
    await hq?.stop();
    await watcher?.endAsync();
    await mosquitto?.cleanup();
  });

  it('sends a schema-valid health document to fleet/{deviceId}/health at the interval', async () => {
    const t0 = Date.now();
    while (docs.length < 3 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 100));
    expect(docs.length).toBeGreaterThanOrEqual(3);
    for (const d of docs) expect(check(d), describeErrors(check.errors)).toBe(true);
    const d = docs.at(-1) as HealthDocument;
    expect(d).toMatchObject({ v: 1, storeId: 'demo-store', sync: { enabled: true, connected: true }, certificate: { state: 'unenrolled' } });
    expect(d.disk.totalMB).toBeGreaterThan(0);
    expect(d.versions.node).toBe(process.versions.node);
  });

  it('answers GET /api/v1/health with the same document shape, following the journal', async () => {
    expect((await postSale(box.port, 'health-1', { lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 500 }] })).status).toBe(201);
    await new Promise((r) => setTimeout(r, 1500));
    const r = await call(box.port, 'GET', '/api/v1/health');
    expect(r.status).toBe(200);
    const d = r.json<HealthDocument>();
    expect(check(d), describeErrors(check.errors)).toBe(true);
    expect(d.journal.lastSeq).toBeGreaterThanOrEqual(1);
  });

  it('serves /metrics in Prometheus text format to a manager, with the health figures', async () => {
    const r = await call(box.port, 'GET', '/metrics', undefined, managerAuth(box.stateDir));
    expect(r.status).toBe(200);
    const lines = r.body.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const l of lines) expect(l, l).toMatch(SAMPLE);
    // And through a Prometheus text-format parser: every family typed, every value a number.
    const families = parsePrometheusTextFormat(r.body);
    expect(families.find((f) => f.name === 'tillbox_sync_pending_events')?.type).toBe('GAUGE');
    for (const f of families) for (const m of f.metrics) if (m.value !== undefined) expect(Number.isNaN(Number(m.value)) && m.value.toLowerCase() !== 'nan', `${f.name} ${m.value}`).toBe(false);
    const value = (name: string) => Number(lines.find((l) => l.startsWith(`${name} `))?.split(' ')[1]);
    expect(value('tillbox_journal_last_seq')).toBeGreaterThanOrEqual(1);
    expect(value('tillbox_sync_connected')).toBe(1);
    expect(lines.some((l) => l.startsWith('tillbox_core_process_resident_memory_bytes'))).toBe(true);
  });

  it('mirrors each peripheral state to the cloud, retained on fleet/{deviceId}/devices/{peripheralId}/state', async () => {
    const deviceId = (docs.at(-1) as HealthDocument).deviceId;
    const rt = JSON.parse(readFileSync(join(box.stateDir, 'runtime.json'), 'utf8')) as { mqtt: { tcp: { port: number } } };
    const a = (JSON.parse(readFileSync(join(box.stateDir, 'secrets.json'), 'utf8')) as { mqtt: Array<{ role: string; username: string; password: string }> }).mqtt.find((x) => x.role === 'admin')!;
    const local = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqtt.tcp.port}`, { username: a.username, password: a.password, clientId: `${a.username}-mirror` });
    await local.publishAsync(
      'store/demo-store/devices/scale-7/state',
      JSON.stringify({ id: 'scale-7', kind: 'scale', state: 'offline', uri: 'serial:///dev/ttyUSB9', since: new Date().toISOString() }),
      { qos: 1, retain: true },
    );
    await local.endAsync();
    const t0 = Date.now();
    let got: { state?: string } | undefined;
    while (!got && Date.now() - t0 < 10_000) {
      // A late subscriber: the message must be retained at the cloud broker.
      const late = await mqtt.connectAsync(mosquitto.url, { clientId: `late-${Date.now()}` });
      late.on('message', (_t, p) => p.length && (got = JSON.parse(p.toString())));
      await late.subscribeAsync(`fleet/${deviceId}/devices/scale-7/state`, { qos: 1 });
      await new Promise((r) => setTimeout(r, 300));
      await late.endAsync();
    }
    expect(got).toMatchObject({ id: 'scale-7', kind: 'scale', state: 'offline' });
  });

  it("shows the box at HQ's fleet view with its health; kill -9 shows it offline within 1.5 x keepalive, a restart online again", async () => {
    const deviceId = (docs.at(-1) as HealthDocument).deviceId;
    const until = async (what: string, ms: number, ok: (f: Fleet) => boolean) => {
      const t0 = Date.now();
      for (;;) {
        const f = await fleet(hq);
        if (ok(f)) return { f, ms: Date.now() - t0 };
        if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(f)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until('the box online with health', 15_000, (f) => f.some((e) => e.deviceId === deviceId && e.online && (e.health?.journal.lastSeq ?? 0) >= 1));
    const page = await (await fetch(`${hq.httpUrl}/fleet`)).text();
    expect(page).toContain(deviceId);
    const metrics = await (await fetch(`${hq.httpUrl}/metrics`)).text();
    expect(parsePrometheusTextFormat(metrics).find((f) => f.name === 'tillbox_hq_device_online')?.metrics).toContainEqual(
      expect.objectContaining({ value: '1', labels: { device: deviceId, store: 'demo-store' } }),
    );
    expect(metrics).toMatch(new RegExp(`tillbox_hq_device_online\\{device="${deviceId}",store="demo-store"\\} 1`));
    await box.kill();
    // Mosquitto gives up on a silent client after 1.5 x keepalive and sends its will.
    const off = await until('offline', 1.5 * KEEPALIVE_S * 1000 + 5_000, (f) => f.some((e) => e.deviceId === deviceId && !e.online));
    expect(off.ms).toBeLessThan(1.5 * KEEPALIVE_S * 1000 + 5_000);
    await until('the offline alert', 10_000, (f) => f.some((e) => e.deviceId === deviceId && e.alerts.some((a) => a.kind === 'offline')));
    box = await startBox(box.stateDir, BOX_ENV(mosquitto.url));
    await until('online again', 20_000, (f) => f.some((e) => e.deviceId === deviceId && e.online));
  });
});
