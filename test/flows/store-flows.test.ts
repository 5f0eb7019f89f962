import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { call, postSale } from '../../harness/box.ts';
import { tillbox } from '../support/cli.ts';
import { admin, adminToken, roleClient, startCore, startFlowsProcess, startPrintResponder, until, SALE, type CoreBox, type FlowsProcess } from './support.ts';

const TWO_STATIONS = new URL('./fixtures/two-stations.json', import.meta.url).pathname;

// `tillbox flows` as its own process against a real core, with the base store
// flows and a store overlay (test/flows/fixtures/two-stations.json) deployed at start: kitchen/bar routing by
// category, low-stock and large-refund alerts, the end-of-day report; and the
// hardened editor's admin API.

let core: CoreBox;
let flows: FlowsProcess;
let responder: Awaited<ReturnType<typeof startPrintResponder>>;
let watcher: MqttClient;
const seen: Array<{ topic: string; payload: string }> = [];
let token: string;

beforeAll(async () => {
  core = await startCore();
  responder = await startPrintResponder(core, { kitchen: null, bar: null, receipt: null });
  watcher = await roleClient(core, 'admin');
  watcher.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
  await watcher.subscribeAsync(`store/${core.storeId}/#`, { qos: 1 });
  flows = await startFlowsProcess(core, { TILLBOX_FLOWS_OVERLAY: TWO_STATIONS });
  const nr = core.secrets().nodeRed!;
  token = await adminToken(flows.url, nr.username, nr.password);
  // The store flows' nodes are connected once every tillbox node shows "connected".
  await until(async () => {
    const r = await admin(flows.url, token, 'GET', 'flows/state');
    return r.status === 200 || undefined;
  }, 'admin api');
}, 90_000);

afterAll(async () => {
  await flows?.stop();
  await responder?.stop();
  await watcher?.endAsync();
  await core?.stop();
}, 30_000);

const printed = (printer: string) => responder.seen.filter((s) => s.printer === printer);

describe('store flows (base + a two-station overlay)', () => {
  it('deployed the versioned store flows at start, on locked tabs, under the fixed flows file name', async () => {
    expect(flows.output()).toContain('store flows base 1 + demo-store r7');
    const onDisk = readdirSync(join(core.stateDir, 'flows')).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
    expect(onDisk.filter((f) => f.startsWith('flows')).sort()).toEqual(['flows.json']); // never flows_<hostname>.json
    const r = await admin(flows.url, token, 'GET', 'flows');
    const nodes = (await r.json()) as Array<{ id: string; type: string; locked?: boolean }>;
    const tabs = nodes.filter((n) => n.type === 'tab');
    expect(tabs.map((t) => t.id)).toEqual(['tbx-tab-kitchen', 'tbx-tab-stock', 'tbx-tab-refund', 'tbx-tab-eod']);
    expect(tabs.every((t) => t.locked)).toBe(true);
  });

  it('routes a sale to the kitchen and bar printers by category, one ticket each', async () => {
    const r = await postSale(
      core.httpPort,
      `sf-${Date.now()}`,
      SALE([
        { sku: 'BREAD-WG', qty: 2 },
        { sku: 'COFFEE-500', qty: 1 },
        { sku: 'PASTA-500', qty: 1 },
        { sku: 'CHEDDAR-200', qty: 1 },
      ]),
    );
    expect(r.status).toBe(201);
    const sale = r.json<{ seq: number }>();
    await until(() => (printed('kitchen').length >= 1 && printed('bar').length >= 1) || undefined, 'both tickets');
    const kitchen = printed('kitchen')[0]!.args.ticket!;
    const bar = printed('bar')[0]!.args.ticket!;
    expect(kitchen.order).toBe(`#${sale.seq}`);
    expect(kitchen.lines).toEqual([
      { name: 'Wholegrain bread 500 g', qty: 2, group: 'deli' },
      { name: 'Cheddar 200 g', qty: 1, group: 'deli' },
    ]);
    expect(bar.lines).toEqual([{ name: 'Coffee beans 500 g', qty: 1, group: 'bar' }]);
  }, 30_000);

  it('alerts HQ once when a watched SKU falls to its threshold', async () => {
    // MILK-1L: start 50, threshold 10 in the demo overlay.
    await postSale(core.httpPort, `sf-milk-1-${Date.now()}`, SALE([{ sku: 'MILK-1L', qty: 39 }]));
    await postSale(core.httpPort, `sf-milk-2-${Date.now()}`, SALE([{ sku: 'MILK-1L', qty: 1 }]));
    await postSale(core.httpPort, `sf-milk-3-${Date.now()}`, SALE([{ sku: 'MILK-1L', qty: 1 }]));
    const topic = `store/${core.storeId}/cloud/alerts/low-stock`;
    const alert = await until(() => seen.find((s) => s.topic === topic), 'low-stock alert');
    expect(JSON.parse(alert.payload)).toMatchObject({ sku: 'MILK-1L', level: 10, threshold: 10, store: core.storeId });
    // The third sale (level 9) went through the flow too (its bar ticket printed) without a second alert.
    await until(() => printed('bar').filter((p) => p.args.ticket!.lines.some((l) => l.name.startsWith('Whole milk'))).length >= 3 || undefined, 'three milk tickets');
    expect(seen.filter((s) => s.topic === topic)).toHaveLength(1);
  }, 30_000);

  it('sends a large refund to HQ and prints a slip for the manager; a small one does neither', async () => {
    const small = (await postSale(core.httpPort, `sf-small-${Date.now()}`, SALE([{ sku: 'YOGURT-500', qty: 1 }]))).json<{ id: string; lines: Array<{ amount: number }> }>();
    const big = (await postSale(core.httpPort, `sf-big-${Date.now()}`, SALE([{ sku: 'OIL-500', qty: 4 }]))).json<{ id: string; lines: Array<{ amount: number }> }>();
    const refund = (sale: typeof big, key: string) =>
      call(
        core.httpPort,
        'POST',
        '/api/v1/refunds',
        { saleId: sale.id, lines: [{ line: 0, qty: sale.lines[0]!.amount === 99 ? 1 : 4 }], tenders: [{ type: 'cash', amount: sale.lines[0]!.amount }], reason: 'customer changed mind' },
        { 'idempotency-key': key },
      );
    expect((await refund(small, `sf-r1-${Date.now()}`)).status).toBe(201);
    const r = await refund(big, `sf-r2-${Date.now()}`);
    expect(r.status).toBe(201);
    const topic = `store/${core.storeId}/cloud/alerts/large-refund`;
    const alert = await until(() => seen.find((s) => s.topic === topic), 'large-refund alert');
    expect(JSON.parse(alert.payload)).toMatchObject({ sale: big.id, total: 2796, currency: 'EUR', reason: 'customer changed mind' });
    const slip = await until(() => printed('receipt').find((p) => p.args.raw && Buffer.from(p.args.raw, 'base64').toString('latin1').includes('LARGE REFUND')), 'manager slip');
    expect(Buffer.from(slip.args.raw!, 'base64').toString('latin1')).toContain('27.96 EUR');
    expect(seen.filter((s) => s.topic === topic)).toHaveLength(1);
  }, 30_000);

  it('prints the end-of-day report when its inject node fires', async () => {
    const r = await admin(flows.url, token, 'POST', 'inject/tbx-eod-at');
    expect(r.status).toBe(200);
    const job = await until(() => printed('receipt').find((p) => p.args.raw && Buffer.from(p.args.raw, 'base64').toString('latin1').includes('END OF DAY')), 'report');
    const text = Buffer.from(job.args.raw!, 'base64').toString('latin1');
    expect(text).toMatch(/Sales {4}\d+ {3}\d+\.\d\d EUR/);
    expect(text).toMatch(/Refunds {2}2 {3}/);
  }, 30_000);
});

describe('hardened editor', () => {
  it('requires the per-device login, and refuses the wrong password', async () => {
    expect((await fetch(new URL('flows', flows.url))).status).toBe(401);
    await expect(adminToken(flows.url, 'admin', 'admin')).rejects.toThrow(/login failed/);
    await expect(adminToken(flows.url, 'admin', 'password')).rejects.toThrow(/login failed/);
  });

  it('tillbox secrets show prints the editor login that works', async () => {
    const r = await tillbox(['secrets', 'show', '--json'], { TILLBOX_STATE_DIR: core.stateDir });
    expect(r.code).toBe(0);
    const { nodeRed } = JSON.parse(r.stdout) as { nodeRed: { username: string; password: string; credentialSecret: string } };
    expect(nodeRed.username).toBe('admin');
    expect(nodeRed.credentialSecret).toMatch(/^[0-9a-f]{64}$/);
    await expect(adminToken(flows.url, nodeRed.username, nodeRed.password)).resolves.toMatch(/.+/);
  }, 30_000);

  it('offers no palette installs and leaks no broker credentials through its settings', async () => {
    const settings = (await (await admin(flows.url, token, 'GET', 'settings')).json()) as { externalModules?: { palette?: { allowInstall?: boolean } } };
    expect(settings.externalModules?.palette?.allowInstall).toBe(false);
    expect(JSON.stringify(settings)).not.toContain(core.account('flows').password);
    const install = await admin(flows.url, token, 'POST', 'nodes', { module: 'node-red-contrib-anything' });
    expect(install.status).toBeGreaterThanOrEqual(400);
    const nodes = (await (await admin(flows.url, token, 'GET', 'nodes')).json()) as Array<{ types: string[]; module: string }>;
    const types = nodes.flatMap((n) => n.types);
    expect(types).toContain('tillbox print');
    expect(types).not.toContain('exec');
    expect(types).not.toContain('file in');
    expect(flows.output()).not.toContain(core.account('flows').password);
  });

  it('keeps telemetry off even when an editor user opts in', async () => {
    const r = await admin(flows.url, token, 'POST', 'settings/user', { telemetryEnabled: true });
    expect(r.status).toBeLessThan(300);
    const settings = (await (await admin(flows.url, token, 'GET', 'settings')).json()) as { telemetryEnabled?: boolean };
    expect(settings.telemetryEnabled).toBe(false);
  });

  it('ships the tillbox examples in the import dialog', async () => {
    const modules = (await (await admin(flows.url, token, 'GET', 'library/examples/flows/')).json()) as string[];
    expect(modules).toContain('@tillbox/node-red-nodes');
    const listing = JSON.stringify(await (await admin(flows.url, token, 'GET', 'library/examples/flows/@tillbox/node-red-nodes')).json());
    expect(listing).toContain('01 Kitchen ticket for every sale');
    const example = await admin(flows.url, token, 'GET', 'library/examples/flows/@tillbox/node-red-nodes/01 Kitchen ticket for every sale');
    const nodes = JSON.parse(await example.text()) as Array<{ type: string }>;
    expect(nodes.map((n) => n.type)).toContain('tillbox print');
  });

  // Last: it locks this address out of logging in for a minute.
  // Node-RED's own brake (editor-api auth/strategies.js): more than 5 attempts for a
  // user within 10 minutes are refused, whatever the password.
  it('stops password guessing: after 5 failed logins even the right password is refused', async () => {
    const attempt = (password: string) =>
      fetch(new URL('auth/token', flows.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'admin', password }),
      }).then((r) => r.status);
    for (let i = 0; i < 6; i++) expect(await attempt(`guess-${i}`)).toBeGreaterThanOrEqual(400);
    expect(await attempt(core.secrets().nodeRed!.password)).toBeGreaterThanOrEqual(400);
    // The lockout says what it is: 429 with Retry-After, not a 500.
    const locked = await fetch(new URL('auth/token', flows.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'admin', password: 'again' }),
    });
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toBe('600');
    expect(locked.headers.get('content-type')).toContain('application/problem+json');
  }, 60_000);
});
