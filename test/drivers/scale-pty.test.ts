// Scenario tests: the real driver stack (SerialTransport + bindings-cpp +
import { vi } from 'vitest';
// ScaleDriver) against the pty scale simulator for every protocol. No timing
// thresholds: every wait is for an event; the test timeout is the only bound.
import { afterEach, describe, expect, it } from 'vitest';
import { autoDetect } from '@serialport/bindings-cpp';
import type { WeightReading } from '../../contract/devices/scale.ts';
import { ScaleSimulator } from '../../drivers/sim/scale.ts';
import { ScaleDriver, probeScale, scaleProtocols } from '../../drivers/scale/scale.ts';
import type { ScaleProtocolName } from '../../drivers/scale/types.ts';
import { SerialTransport } from '../../drivers/transports/serial.ts';
import type { TransportClose } from '../../drivers/transports/transport.ts';
import type { Framing } from '../../drivers/transports/uri.ts';

vi.setConfig({ testTimeout: 30_000 });
const binding = autoDetect();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function rig(protocol: ScaleProtocolName, opts: { grams?: number; portFraming?: Framing } = {}) {
  const sim = await ScaleSimulator.start({ protocol, grams: opts.grams ?? 1234 });
  cleanups.push(() => sim.close());
  const transport = new SerialTransport({ path: sim.path, baudRate: 9600, framing: opts.portFraming ?? scaleProtocols[protocol].defaults.framing, binding });
  const driver = new ScaleDriver({ transport, protocol, pollIntervalMs: 20, responseTimeoutMs: 500 });
  cleanups.push(() => driver.stop());
  const readings: WeightReading[] = [];
  const errors: (Error & { code?: string })[] = [];
  driver.on('weight', (r) => readings.push(r));
  driver.on('error', (e) => errors.push(e));
  return { sim, transport, driver, readings, errors };
}

function waitFor(pred: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const tick = (): void => (pred() ? resolve() : void setTimeout(tick, 10));
    tick();
  });
}

describe.each(Object.keys(scaleProtocols) as ScaleProtocolName[])('%s scale over a real pty', (protocol) => {
  it('reports stable → in motion → stable → overload → under zero, and a stable weight is the only sellable one', async () => {
    const { sim, driver, readings } = await rig(protocol);
    await driver.start();
    await waitFor(() => readings.some((r) => r.grams === 1234 && r.stable));
    sim.set('motion');
    await waitFor(() => readings.some((r) => !r.stable && !r.overload));
    sim.set('stable', 500);
    await waitFor(() => readings.at(-1)?.grams === 500 && readings.at(-1)?.stable === true);
    sim.set('overload');
    await waitFor(() => readings.at(-1)?.overload === true);
    sim.set('underzero');
    await waitFor(() => readings.at(-1)?.underZero === true);
    expect(readings.filter((r) => r.status === 'stable').every((r) => r.value !== null)).toBe(true);
  });

  it('survives garbage and partial frames between answers', async () => {
    const { sim, driver, readings } = await rig(protocol);
    await driver.start();
    await waitFor(() => readings.length > 0);
    sim.inject(Buffer.from([0x00, 0xff, 0x02, 0x01, 0x0a, 0x53, 0x20, 0x03, 0x0d, 0x42]));
    sim.set('stable', 777);
    await waitFor(() => readings.at(-1)?.grams === 777);
  });

  it('unplugging mid-read closes with disconnected: true and does not crash', async () => {
    const { sim, driver, readings } = await rig(protocol);
    const closed = new Promise<TransportClose>((resolve) => driver.once('close', resolve));
    await driver.start();
    await waitFor(() => readings.length > 0);
    await sim.unplug();
    const info = await closed;
    expect(info.disconnected).toBe(true);
    await expect(driver.read()).rejects.toMatchObject({ code: 'TB_SCALE_CLOSED' });
  });
});

describe('zero and tare over a real pty', () => {
  it('MT-SICS: tare makes the net zero, zero re-zeroes, both refused in motion', async () => {
    const { sim, driver, readings } = await rig('sics', { grams: 300 });
    await driver.start();
    await waitFor(() => readings.some((r) => r.grams === 300));
    await driver.tare();
    await waitFor(() => readings.at(-1)?.grams === 0);
    sim.set('stable', 500);
    await waitFor(() => readings.at(-1)?.grams === 200);
    sim.set('motion');
    await expect(driver.zero()).rejects.toMatchObject({ code: 'TB_SCALE_REFUSED' });
    sim.set('stable');
    await driver.zero();
    await waitFor(() => readings.at(-1)?.status === 'zero');
  });
  it('NCI: zero and tare; CAS: unsupported, said clearly', async () => {
    const n = await rig('nci', { grams: 250 });
    await n.driver.start();
    await n.driver.tare();
    expect(n.sim.model.tareGrams).toBe(250);
    await n.driver.zero();
    expect(n.sim.model.zeroOffset).toBe(250);
    const c = await rig('cas');
    await c.driver.start();
    await expect(c.driver.tare()).rejects.toThrow(/no tare command/);
  });
});

describe('wrong framing gives a clear error, not a hang', () => {
  it('a 7E1 Toledo 8217 scale read on an 8N1 port → TB_SCALE_FRAMING naming 7E1', async () => {
    const { driver, errors, readings } = await rig('toledo8217', { portFraming: { dataBits: 8, parity: 'none', stopBits: 1 } });
    await driver.start();
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toMatchObject({ code: 'TB_SCALE_FRAMING' });
    expect(errors[0]!.message).toMatch(/7E1/);
    expect(readings).toEqual([]);
  });
  it('an 8N1 MT-SICS scale driven at 7E1: it sees parity bits in the command and answers ES → error naming the framing', async () => {
    const { driver, errors } = await rig('sics', { portFraming: { dataBits: 7, parity: 'even', stopBits: 1 } });
    await driver.start();
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toMatchObject({ code: 'TB_SCALE_PROTOCOL' });
    expect(errors[0]!.message).toMatch(/ES.*7E1 vs 8N1/);
  });
});

describe('auto probing', () => {
  it('finds an NCI scale by trying each protocol at its own line settings', async () => {
    const sim = await ScaleSimulator.start({ protocol: 'nci', grams: 42 });
    cleanups.push(() => sim.close());
    const found = await probeScale(async (c) => new SerialTransport({ path: sim.path, baudRate: c.baudRate, framing: c.framing, binding }), { timeoutMs: 300 });
    expect(found?.candidate.protocol).toBe('nci');
    expect(found?.reading.grams).toBe(42);
  });
});
