import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevicesProcess } from '../../appliance/devices/process.ts';
import { call, startBox, type BoxProcess } from '../../harness/box.ts';
import { startMosquitto, type Mosquitto } from '../../harness/mosquitto.ts';
import { startRealHq, type RealHq } from '../../harness/real-hq.ts';
import { startDevices } from '../devices/support.ts';

// The whole path with real parts: the demo printer simulator (TCP 9100) runs
// out of paper, then is unplugged; the devices process notices, core's health
// raises the alerts, and both the box's status page and HQ's fleet view show them.

type Fleet = Array<{ deviceId: string; alerts: Array<{ kind: string; detail: string }> }>;

describe('a peripheral problem reaches the status page and HQ', { timeout: 120_000 }, () => {
  let mosquitto: Mosquitto;
  let hq: RealHq;
  let box: BoxProcess;
  let devices: DevicesProcess;

  beforeAll(async () => {
    mosquitto = await startMosquitto();
    hq = await startRealHq(mosquitto.url, 'pglite');
    box = await startBox(undefined, { TILLBOX_CLOUD_URL: mosquitto.url, TILLBOX_HEALTH_INTERVAL_S: '1' });
    devices = await startDevices(box.stateDir);
  }, 90_000);

  afterAll(async () => {
    await devices?.stop().catch(() => {});
    await box?.stop();
    await hq?.stop();
    await mosquitto?.cleanup();
  });

  const until = async (what: string, ok: () => Promise<boolean>, ms = 30_000) => {
    const t0 = Date.now();
    while (!(await ok())) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const page = async () => (await call(box.port, 'GET', '/status')).body;
  const fleetAlerts = async () => ((await (await fetch(`${hq.httpUrl}/api/v1/fleet`)).json()) as Fleet).flatMap((e) => e.alerts.map((a) => `${a.kind}: ${a.detail}`));

  it('shows the printer online, then out of paper, then unplugged, on the page and at HQ', async () => {
    await until('printer-1 online on the page', async () => (await page()).includes('printer-1 (printer): online'));
    devices.demo!.printer.control('paper out');
    await until('paper empty on the page', async () => (await page()).includes('paper empty'));
    await until('the paper alert at HQ', async () => (await fleetAlerts()).some((a) => a.startsWith('HEALTH_PAPER_OUT: printer printer-1 is out of paper')));
    devices.demo!.printer.control('paper ok');
    await devices.demo!.printer.stop();
    // Unplugged: UPOS off / off-offline (or error while the driver retries), no longer just offline.
    await until('printer-1 off on the page', async () => /printer-1 \(printer\): (off|off-offline|error)</.test(await page()), 60_000);
    await until('the offline alert at HQ', async () => (await fleetAlerts()).some((a) => /^HEALTH_PERIPHERAL_OFFLINE: printer printer-1 is (off|off-offline|error)$/.test(a)), 60_000);
    expect(await fleetAlerts()).not.toContainEqual(expect.stringMatching(/^HEALTH_PAPER_OUT/));
  });
});
