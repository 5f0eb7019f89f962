// Regression for the two tests host-over-mqtt.test.ts used to skip: after
// bus.crash() (socket dropped, no DISCONNECT) DeviceBus.stop() called a
// second end() on an mqtt.js client that was already ending; mqtt.js never
// calls that back, so stop() hung and the next devices process on the same
// persistent session never got to publish its birth.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startBox, type BoxProcess } from '../../harness/box.ts';
import { Observer, startDevices } from './support.ts';

const S = 'demo-store';

describe('devices process restarted on the same persistent session', { timeout: 120_000 }, () => {
  let box: BoxProcess;
  let obs: Observer;
  beforeAll(async () => {
    box = await startBox();
    obs = await Observer.connect(box.stateDir, `store/${S}/devices/host/state`);
  }, 60_000);
  afterAll(async () => {
    await obs?.close();
    await box?.stop();
  });

  it('stops promptly after a crash and shows a fresh birth on every restart, ten times over', async () => {
    for (let i = 0; i < 10; i++) {
      const since = obs.mark();
      const devices = await startDevices(box.stateDir);
      await obs.wait((m) => m.json().state === 'online' && m.json().pid === process.pid, since);
      if (i % 2 === 0) {
        const crashed = obs.mark();
        devices.bus!.crash();
        await obs.wait((m) => m.json().state === 'lost', crashed);
      }
      // Hung forever before the fix; bounded by construction now (the test's timeout is the judge).
      await devices.stop();
    }
  });
});
