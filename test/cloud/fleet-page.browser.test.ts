import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBox, type BoxProcess } from '../../harness/box.ts';
import { startMosquitto, type Mosquitto } from '../../harness/mosquitto.ts';
import { startRealHq, type RealHq } from '../../harness/real-hq.ts';

// HQ's fleet page in real Chromium at 360 px: a real box reporting through
// Mosquitto to tillbox-hq; a peripheral going offline on the box shows up as
// an alert on the page by itself (the page refreshes itself; no script).

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts');

describe('the HQ fleet page', { timeout: 120_000 }, () => {
  let mosquitto: Mosquitto;
  let hq: RealHq;
  let box: BoxProcess;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup-system.sh (Debian package chromium)`);
    mosquitto = await startMosquitto();
    hq = await startRealHq(mosquitto.url, 'pglite');
    box = await startBox(undefined, { TILLBOX_CLOUD_URL: mosquitto.url, TILLBOX_HEALTH_INTERVAL_S: '1' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await box?.stop();
    await hq?.stop();
    await mosquitto?.cleanup();
  });

  it('lists the box, filters by store, and shows a peripheral going offline as an alert without a reload', async () => {
    const deviceId = readFileSync(join(box.stateDir, 'device-id'), 'utf8').trim();
    const page = await browser.newPage({ viewport: { width: 360, height: 780 } });
    await page.goto(`${hq.httpUrl}/fleet`);
    await page.waitForFunction(`document.body.textContent.includes(${JSON.stringify(deviceId)})`, undefined, { timeout: 30_000, polling: 500 });
    // The page reloads itself every 10 s; wait for it through a reload if the first health was not in yet.
    await page.goto(`${hq.httpUrl}/fleet?storeId=other-store`);
    expect(await page.textContent('body')).not.toContain(deviceId);
    await page.goto(`${hq.httpUrl}/fleet?storeId=demo-store`);
    expect(await page.textContent('body')).toContain(deviceId);
    // A scale on the box goes offline (the devices process would publish this retained state).
    const rt = JSON.parse(readFileSync(join(box.stateDir, 'runtime.json'), 'utf8')) as { mqtt: { tcp: { port: number } } };
    const a = (JSON.parse(readFileSync(join(box.stateDir, 'secrets.json'), 'utf8')) as { mqtt: Array<{ role: string; username: string; password: string }> }).mqtt.find((x) => x.role === 'admin')!;
    const local = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqtt.tcp.port}`, { username: a.username, password: a.password, clientId: `${a.username}-fleet-page` });
    await local.publishAsync(
      'store/demo-store/devices/scale-3/state',
      JSON.stringify({ id: 'scale-3', kind: 'scale', state: 'offline', uri: 'serial:///dev/ttyUSB3', since: new Date().toISOString() }),
      { qos: 1, retain: true },
    );
    await page.waitForFunction("document.body.textContent.includes('scale scale-3 is offline')", undefined, { timeout: 30_000, polling: 500 });
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'fleet-page-360.png'), fullPage: true });
    await local.publishAsync('store/demo-store/devices/scale-3/state', '', { qos: 1, retain: true });
    await local.endAsync();
    await page.close();
  });
});
