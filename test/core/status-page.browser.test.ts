import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startBox, type BoxProcess } from '../../harness/box.ts';

// The installer's status page in real Chromium (Debian's, driven by
// playwright-core), 360 px wide like a phone: content, and a live update when
// a peripheral changes (server-sent events, no reload).

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts');

describe('the status page', { timeout: 90_000 }, () => {
  let box: BoxProcess;
  let browser: Browser;
  let admin: mqtt.MqttClient;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup-system.sh (Debian package chromium)`);
    box = await startBox();
    const rt = JSON.parse(readFileSync(join(box.stateDir, 'runtime.json'), 'utf8')) as { mqtt: { tcp: { port: number } } };
    const secrets = JSON.parse(readFileSync(join(box.stateDir, 'secrets.json'), 'utf8')) as { mqtt: Array<{ role: string; username: string; password: string }> };
    const a = secrets.mqtt.find((x) => x.role === 'admin')!;
    admin = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqtt.tcp.port}`, { username: a.username, password: a.password, clientId: `${a.username}-page-test` });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await admin?.endAsync();
    await box?.stop();
  });

  it('answers without JavaScript with the essentials, and shows no secret', async () => {
    const r = await call(box.port, 'GET', '/status');
    expect(r.status).toBe(200);
    for (const s of ['Enrolment', 'Cloud', 'Backlog', 'Peripherals', 'Disk', 'Version', 'demo-store']) expect(r.body).toContain(s);
    const secrets = JSON.parse(readFileSync(join(box.stateDir, 'secrets.json'), 'utf8')) as { mqtt: Array<{ password: string }>; api: Array<{ token: string }> };
    for (const p of [...secrets.mqtt.map((m) => m.password), ...secrets.api.map((t) => t.token)]) expect(r.body).not.toContain(p);
  });

  it('renders at 360 px and updates live when a printer appears and runs out of paper', async () => {
    const page = await browser.newPage({ viewport: { width: 360, height: 780 } });
    await page.goto(`http://127.0.0.1:${box.port}/status`);
    await page.waitForSelector('#status h1');
    expect(await page.textContent('#peripherals')).toContain('none connected');
    const topic = (rest: string) => `store/demo-store/devices/printer-9/${rest}`;
    await admin.publishAsync(topic('state'), JSON.stringify({ id: 'printer-9', kind: 'printer', state: 'online', uri: 'tcp://10.0.0.9:9100', since: new Date().toISOString() }), {
      qos: 1,
      retain: true,
    });
    await page.waitForFunction("document.querySelector('#peripherals')?.textContent?.includes('printer-9')", undefined, { timeout: 10_000 });
    await admin.publishAsync(
      topic('status'),
      JSON.stringify({ online: true, coverOpen: false, paper: 'empty', ready: false, conditions: ['paper-empty'], source: 'dle-eot', at: new Date().toISOString() }),
      { qos: 1, retain: true },
    );
    await page.waitForFunction("document.querySelector('#peripherals')?.textContent?.includes('paper empty')", undefined, { timeout: 10_000 });
    expect(await page.textContent('#status h1')).toBe('Needs attention');
    // No horizontal scrolling on a phone.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-360.png'), fullPage: true });
    await page.close();
    await admin.publishAsync(topic('state'), '', { qos: 1, retain: true });
    await admin.publishAsync(topic('status'), '', { qos: 1, retain: true });
  });
});
