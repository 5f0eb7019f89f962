import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { postSale } from '../../harness/box.ts';
import { SimPrinter } from '../../drivers/sim/printer.ts';
import { roleClient, startCore, startDevicesProcess, startFlowsProcess, until, SALE, type CoreBox, type FlowsProcess } from './support.ts';

// The real editor in a real browser: Debian's Chromium driven by
// playwright-core (never a downloaded browser). An integrator logs in with
// the box's generated credentials, finds the tillbox palette, imports and
// deploys a flow that routes sales to the kitchen pass printer, and a sale
// comes out of the ESC/POS printer simulator over TCP, printed by the real
// devices process (`tillbox devices` with the simulator as printer `pass`).

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts');

let core: CoreBox;
let flows: FlowsProcess;
let printer: SimPrinter;
let devices: Awaited<ReturnType<typeof startDevicesProcess>>;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup-system.sh (Debian package chromium)`);
  core = await startCore();
  printer = await new SimPrinter({ port: 0, columns: 48 }).start();
  devices = await startDevicesProcess(core, { pass: printer.port });
  flows = await startFlowsProcess(core);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await flows?.stop();
  await devices?.stop();
  await printer?.stop();
  await core?.stop();
}, 30_000);

const passFlow = [
  { id: 'itg-in', type: 'tillbox in', broker: 'tbx-broker', source: 'pos', eventType: 'sale', x: 140, y: 100, wires: [['itg-ticket']] },
  {
    id: 'itg-ticket',
    type: 'function',
    name: 'whole order to the pass',
    outputs: 1,
    timeout: 0,
    libs: [],
    x: 340,
    y: 100,
    wires: [['itg-print']],
    func: "msg.payload = { order: 'PASS ' + msg.event.seq, station: 'pass', lines: msg.payload.lines.map(l => ({ name: l.name, qty: l.qty })) };\nreturn msg;",
  },
  { id: 'itg-print', type: 'tillbox print', broker: 'tbx-broker', printer: 'pass', kind: 'kitchen', timeout: 15, x: 540, y: 100, wires: [[]] },
];

async function login(page: Page, username: string, password: string): Promise<void> {
  await page.goto(flows.url);
  await page.locator('#node-dialog-login-username').fill(username);
  await page.locator('#node-dialog-login-password').fill(password);
  await page.locator('#node-dialog-login-submit').click();
}

describe('Node-RED editor in Chromium', () => {
  it('refuses a wrong password', async () => {
    const page = await browser.newPage();
    await login(page, 'admin', 'admin');
    await page.locator('#node-dialog-login-failed').waitFor({ state: 'visible', timeout: 15_000 });
    await page.close();
  }, 30_000);

  it('logs in with the generated credentials, shows the tillbox palette, deploys a flow, and a sale prints on the simulator', async () => {
    const nr = core.secrets().nodeRed!;
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const requested: string[] = [];
    page.on('request', (req) => requested.push(req.url()));
    await login(page, nr.username, nr.password);

    // The tillbox palette category with its nodes.
    const palette = page.locator('#red-ui-palette-container-tillbox');
    await palette.waitFor({ state: 'attached', timeout: 30_000 });
    for (const type of ['tillbox in', 'tillbox print', 'tillbox weigh', 'tillbox drawer', 'tillbox cloud out', 'tillbox device state']) {
      await expect(palette.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).count()).resolves.toBe(1);
    }
    // Hardened: no palette manager entry point and no exec node.
    await expect(page.locator('.red-ui-palette-node[data-palette-type="exec"]').count()).resolves.toBe(0);

    // Import the flow through the editor's own import dialog, into a new flow tab.
    await page.locator('#red-ui-workspace-chart').click({ position: { x: 600, y: 400 } });
    await page.keyboard.press('Control+i');
    const importText = page.locator('#red-ui-clipboard-dialog-import-text');
    await importText.fill(JSON.stringify(passFlow));
    await importText.press('End'); // the editor validates the JSON on keyup, as when typing or pasting
    await page.locator('#red-ui-clipboard-dialog-import-opt-new').click();
    await page.locator('#red-ui-clipboard-dialog-ok:not(.disabled):not([disabled])').click({ timeout: 60_000 });
    await page.locator('#red-ui-workspace-chart').click({ position: { x: 700, y: 500 } });

    // Deploy.
    const deploy = page.locator('#red-ui-header-button-deploy');
    await expect(deploy.getAttribute('class')).resolves.not.toContain('disabled');
    await deploy.click();
    await page.waitForFunction("document.querySelector('#red-ui-header-button-deploy')?.classList.contains('disabled')", undefined, { timeout: 20_000 });
    // The deployed print node reports its broker connection.
    await page.locator('.red-ui-flow-node-status-label', { hasText: 'connected' }).first().waitFor({ timeout: 20_000 });

    // A sale through the POS API comes out of the pass printer (ESC/POS over TCP).
    const watcher = await roleClient(core, 'admin');
    const printed: Array<{ status: string }> = [];
    watcher.on('message', (_t, p) => printed.push(JSON.parse(p.toString())));
    await watcher.subscribeAsync(`store/${core.storeId}/devices/pass/printed`, { qos: 1 });
    const r = await postSale(
      core.httpPort,
      `browser-${Date.now()}`,
      SALE([
        { sku: 'PASTA-500', qty: 2 },
        { sku: 'OIL-500', qty: 1 },
      ]),
    );
    expect(r.status).toBe(201);
    const { seq } = r.json<{ seq: number }>();
    const ticket = await until(() => printer.completeReceipts().find((x) => printer.renderText(x).includes(`PASS ${seq}`)), 'the ticket on the simulator', 30_000);
    const text = printer.renderText(ticket);
    expect(text).toContain('2 X SPAGHETTI 500 G');
    expect(text).toContain('1 X OLIVE OIL 500 ML');
    expect(ticket.end).not.toBe('torn');
    // The devices process confirms the job printed.
    await until(() => printed.find((p) => p.status === 'printed'), 'the printed report');
    await watcher.endAsync();

    // The editor works offline: every request it made went to the box.
    const origin = new URL(flows.url).origin;
    expect(requested.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'))).toEqual([]);

    await palette.scrollIntoViewIfNeeded();
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'flows-editor.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    await page.close();
  }, 120_000);
});
