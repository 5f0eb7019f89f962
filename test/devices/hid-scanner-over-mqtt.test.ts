// hid:// scanners configured in `peripherals` run in the devices process
// through the one transport factory, with the HID binding injected through
// the process context (never globally): recorded HID POS and keyboard-wedge
// reports (drivers/sim/fixtures) played back by HidPlaybackBinding come out
// as .../scan on core's broker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HidPlaybackBinding, loadHidRecording } from '../../drivers/sim/hid-playback.ts';
import type { HidBinding } from '../../drivers/transports/index.ts';
import { startBox, type BoxProcess } from '../../harness/box.ts';
import type { DevicesProcess } from '../../appliance/devices/process.ts';
import { Observer, isState, startDevices } from './support.ts';

const S = 'demo-store';
const dev = (id: string, rest: string) => `store/${S}/devices/${id}/${rest}`;
const fixture = (name: string) => new URL(`../../drivers/sim/fixtures/${name}.hidrec.jsonl`, import.meta.url);

/** Two playback devices behind one binding (each has its own vid:pid and playback path). */
function both(...bindings: HidPlaybackBinding[]): HidBinding {
  return {
    devices: async () => (await Promise.all(bindings.map((b) => b.devices()))).flat(),
    async open(path) {
      for (const b of bindings) if ((await b.devices()).some((d) => d.path === path)) return b.open(path);
      throw new Error(`no such device ${path}`);
    },
  };
}

describe('hid:// scanners in the devices process on a real box', { timeout: 60_000 }, () => {
  let box: BoxProcess;
  let devices: DevicesProcess;
  let obs: Observer;

  beforeAll(async () => {
    box = await startBox();
    obs = await Observer.connect(box.stateDir, `store/${S}/devices/#`);
    const hidPos = new HidPlaybackBinding(loadHidRecording(fixture('hidpos-gs1-128')));
    const wedge = new HidPlaybackBinding(loadHidRecording(fixture('keyboard-ean13')));
    devices = await startDevices(box.stateDir, {
      demo: false,
      config: {
        peripherals: [
          // 0x0b61 = 2913, 0x0b01 = 2817 (the fixtures' product ids); serials pick the exact device.
          { id: 'scanner-hidpos', kind: 'scanner', uri: 'hid://0c2e:0b61/SIM-HIDPOS-1?usagePage=0x8c' },
          { id: 'scanner-wedge', kind: 'scanner', uri: 'hid://0c2e:0b01/SIM-WEDGE-1', mode: 'keyboard' },
        ],
      },
      bindings: { hid: both(hidPos, wedge) },
    });
  }, 120_000);

  afterAll(async () => {
    await devices?.stop().catch(() => {});
    await obs?.close();
    await box?.stop();
  });

  it('a HID POS scanner (usage page 0x8C) publishes a GS1-128 scan read over two reports', async () => {
    const born = await obs.wait(isState('scanner-hidpos', 'online'));
    expect(born.json()).toMatchObject({ kind: 'scanner', uri: 'hid://0c2e:0b61/SIM-HIDPOS-1?usagePage=0x8c' });
    const scan = (await obs.wait((m) => m.topic === dev('scanner-hidpos', 'scan'))).json();
    expect(scan).toMatchObject({ symbology: 'GS1-128', source: 'hid-pos', gtin: '09506000134352' });
    expect(scan.gs1.fields).toMatchObject({ gtin: '09506000134352', netWeightKg: '0.195', batch: 'LOT-2026-ABCDEFGHIJ' });
  });

  it('a keyboard-wedge scanner (boot keyboard reports, US layout, Enter) publishes its EAN-13', async () => {
    await obs.wait(isState('scanner-wedge', 'online'));
    const scan = (await obs.wait((m) => m.topic === dev('scanner-wedge', 'scan'))).json();
    expect(scan).toMatchObject({ data: '4006381333931', symbology: 'EAN-13', gtin: '04006381333931', source: 'keyboard' });
  });
});
