// Scales in the devices process against a real core (startBox) over real
// MQTT, each on a real pseudo-terminal: the demo's MT-SICS scale (protocol
// `auto`, so probed) and a configured Toledo 8217 (no tare command).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { WeightReading } from '../../contract/devices/scale.ts';
import { sellableWeight } from '../../drivers/scale/scale.ts';
import { ScaleSimulator } from '../../drivers/sim/scale.ts';
import { startBox, type BoxProcess } from '../../harness/box.ts';
import type { DevicesProcess } from '../../appliance/devices/process.ts';
import { Observer, isState, startDevices, type Observed } from './support.ts';

const S = 'demo-store';
const dev = (id: string, rest: string) => `store/${S}/devices/${id}/${rest}`;
const weight = (id: string, pred: (r: WeightReading) => boolean) => (m: Observed) => m.topic === dev(id, 'weight') && pred(m.json());

describe('scales in the devices process on a real box', { timeout: 60_000 }, () => {
  let box: BoxProcess;
  let devices: DevicesProcess;
  let obs: Observer;
  let toledo: ScaleSimulator;

  beforeAll(async () => {
    box = await startBox();
    obs = await Observer.connect(box.stateDir, `store/${S}/devices/#`);
    toledo = await ScaleSimulator.start({ protocol: 'toledo8217', grams: 1250, state: 'stable' });
    // No baud/framing in the URI: the configured protocol's own line settings (8217: 9600 7E1) apply.
    devices = await startDevices(box.stateDir, { config: { peripherals: [{ id: 'scale-8217', kind: 'scale', uri: `serial://${toledo.path}`, protocol: 'toledo8217' }] } });
  }, 120_000);

  afterAll(async () => {
    await devices?.stop().catch(() => {});
    await toledo?.close().catch(() => {});
    await obs?.close();
    await box?.stop();
  });

  it('probes the demo MT-SICS scale (auto), is born online and publishes the stable weight as a WeightReading', async () => {
    const born = await obs.wait(isState('scale-1', 'online'));
    expect(born.json()).toMatchObject({ kind: 'scale', protocol: 'auto', uri: expect.stringMatching(/^serial:\/\/\/dev\/pts\//) });
    const w = await obs.wait(weight('scale-1', (r) => r.stable && r.value === '0.482'));
    const reading = w.json<WeightReading>();
    expect(Value.Check(WeightReading, reading)).toBe(true);
    expect(reading).toMatchObject({ value: '0.482', unit: 'kg', grams: 482, stable: true, status: 'stable', protocol: 'sics' });
    expect(w.retain).toBe(false);
    expect(sellableWeight(reading).grams).toBe(482);
    const status = await obs.command(dev('scale-1', 'cmd/status'), { correlation: 'st-1', args: {} });
    expect(status.json()).toMatchObject({
      status: 'ok',
      data: { id: 'scale-1', state: 'online', protocol: 'auto', activeProtocol: 'sics', supports: { zero: true, tare: true }, reading: { value: '0.482' } },
    });
  });

  it('goods moving on the platter publish stable:false (not sellable), settling publishes a stable weight again', async () => {
    await obs.wait(weight('scale-1', (r) => r.stable));
    const since = obs.mark();
    devices.demo!.weigh({ grams: 1034, state: 'motion' });
    const moving = (
      await obs.wait(
        weight('scale-1', (r) => !r.stable),
        since,
      )
    ).json<WeightReading>();
    expect(moving).toMatchObject({ stable: false, status: 'unstable' });
    expect(() => sellableWeight(moving)).toThrow(/in motion/);
    // Zeroing while in motion is refused by the scale, and the reply says so.
    const refused = await obs.command(dev('scale-1', 'cmd/zero'), { correlation: 'z-motion', args: {} });
    expect(refused.json()).toMatchObject({ status: 'error', correlation: 'z-motion', error: { code: expect.stringMatching(/^TB_SCALE_/) } });
    const since2 = obs.mark();
    devices.demo!.weigh({ state: 'stable' });
    await obs.wait(
      weight('scale-1', (r) => r.stable && r.value === '1.034'),
      since2,
    );
  });

  it('answers cmd/tare and cmd/zero with the new reading', async () => {
    devices.demo!.weigh({ grams: 300, state: 'stable' });
    await obs.wait(weight('scale-1', (r) => r.stable && r.value === '0.300'));
    const tare = await obs.command(dev('scale-1', 'cmd/tare'), { correlation: 't-1', args: {} });
    expect(tare.json()).toMatchObject({ status: 'ok', correlation: 't-1', data: { tared: true } });
    devices.demo!.weigh({ grams: 800 }); // 300 g container + 500 g goods
    const net = (await obs.wait(weight('scale-1', (r) => r.stable && r.value === '0.500'))).json<WeightReading>();
    expect(net.grams).toBe(500);
    const zero = await obs.command(dev('scale-1', 'cmd/zero'), { correlation: 'z-1', args: {} });
    expect(zero.json()).toMatchObject({ status: 'ok', correlation: 'z-1', data: { zeroed: true, reading: { value: '0.000', status: 'zero' } } });
    await obs.wait(weight('scale-1', (r) => r.value === '0.000' && r.status === 'zero'));
  });

  it('a Toledo 8217 scale weighs and zeroes, and cmd/tare gets a clear error (the protocol has none)', async () => {
    await obs.wait(isState('scale-8217', 'online'));
    await obs.wait(weight('scale-8217', (r) => r.stable && r.value === '1.250' && r.protocol === 'toledo8217'));
    const tare = await obs.command(dev('scale-8217', 'cmd/tare'), { correlation: 't-8217', args: {} });
    expect(tare.json()).toMatchObject({ status: 'error', correlation: 't-8217', error: { code: 'TB_SCALE_UNSUPPORTED', message: expect.stringMatching(/toledo8217.*tare/) } });
    const zero = await obs.command(dev('scale-8217', 'cmd/zero'), { correlation: 'z-8217', args: {} });
    expect(zero.json()).toMatchObject({ status: 'ok', data: { zeroed: true } });
    const unknownCmd = await obs.command(dev('scale-8217', 'cmd/print'), { correlation: 'p-8217', args: {} });
    expect(unknownCmd.json()).toMatchObject({ status: 'error', error: { code: 'TB_DEVICE_COMMAND_UNKNOWN' } });
  });

  it('an unplugged scale goes offline, and a clean stop publishes its death', async () => {
    const since = obs.mark();
    await toledo.unplug();
    await obs.wait((m) => m.topic === dev('scale-8217', 'state') && m.json().state !== 'online', since);
    const since2 = obs.mark();
    await devices.stop('test stop');
    await obs.wait(isState('scale-1', 'off-offline'), since2);
  });
});
