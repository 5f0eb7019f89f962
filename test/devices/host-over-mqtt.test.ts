// The devices process against a real core (startBox) over real MQTT, with the
// demo simulators: a pty serial scanner and the TCP 9100 ESC/POS printer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBox, postSale, type BoxProcess } from '../../harness/box.ts';
import type { DevicesProcess } from '../../appliance/devices/process.ts';
import { Observer, isState, startDevices } from './support.ts';

const S = 'demo-store';
const dev = (id: string, rest: string) => `store/${S}/devices/${id}/${rest}`;

describe('devices process on a real box', { timeout: 90_000 }, () => {
  let box: BoxProcess;
  let devices: DevicesProcess;
  let obs: Observer;

  beforeAll(async () => {
    box = await startBox();
    obs = await Observer.connect(box.stateDir, `store/${S}/devices/#`);
    devices = await startDevices(box.stateDir);
  }, 60_000);

  afterAll(async () => {
    await devices?.stop().catch(() => {});
    await obs?.close();
    await box?.stop();
  });

  it('publishes retained births for every demo peripheral and an online host status', async () => {
    await obs.wait(isState('scanner-1', 'online'));
    await obs.wait(isState('printer-1', 'online'));
    await obs.wait(isState('drawer-1', 'online'));
    const host = await obs.wait((m) => m.topic === dev('host', 'state') && m.json().state === 'online');
    expect(host.json().peripherals).toEqual(expect.arrayContaining(['printer-1', 'drawer-1', 'scanner-1']));
    // A late subscriber sees them retained.
    const late = await Observer.connect(box.stateDir, `store/${S}/devices/+/state`);
    const scanner = await late.wait(isState('scanner-1', 'online'));
    expect(scanner.retain).toBe(true);
    expect(scanner.json()).toMatchObject({ kind: 'scanner', uri: expect.stringMatching(/^serial:\/\/\/dev\/pts\//) });
    await late.close();
  });

  it('a code read by the pty scanner simulator arrives on .../scan with symbology and GS1 data', async () => {
    await obs.wait(isState('scanner-1', 'online'));
    const since = obs.mark();
    devices.demo!.scan(']E04006381333931');
    const ean = await obs.wait((m) => m.topic === dev('scanner-1', 'scan'), since);
    expect(ean.json()).toMatchObject({ data: '4006381333931', symbology: 'EAN-13', aim: ']E0', gtin: '04006381333931' });
    const since2 = obs.mark();
    devices.demo!.scan(']C1' + '0109501101530003' + '3103000195' + '17260630' + '\x1d' + '10ABC123');
    const gs1 = await obs.wait((m) => m.topic === dev('scanner-1', 'scan'), since2);
    expect(gs1.json().gs1.fields).toMatchObject({ gtin: '09501101530003', netWeightKg: '0.195', expiry: '2026-06-30', batch: 'ABC123' });
    // Demo: the demo catalog's variable-measure layouts apply to scans, so a deli label carries its price.
    const since3 = obs.mark();
    devices.demo!.scan(']E02100042012349');
    const label = await obs.wait((m) => m.topic === dev('scanner-1', 'scan'), since3);
    expect(label.json().variableMeasure).toMatchObject({ prefix: '21', kind: 'price', value: '12.34', minor: 1234, lookupCode: '2100042000001' });
  });

  it('the scanner takes cmd/simulate in demo mode and answers with the correlation id', async () => {
    const since = obs.mark();
    const reply = await obs.command(dev('scanner-1', 'cmd/simulate'), { correlation: 'sim-1', args: { code: ']E04006381333931' } });
    expect(reply.json()).toEqual({ status: 'ok', correlation: 'sim-1' });
    await obs.wait((m) => m.topic === dev('scanner-1', 'scan'), since);
  });

  it('answers invalid commands with an error reply and keeps running', async () => {
    const notJson = await obs.command(dev('printer-1', 'cmd/print'), 'not json');
    expect(notJson.json()).toMatchObject({ status: 'error', error: { code: 'TB_DEVICE_COMMAND_INVALID' } });
    const noEnvelope = await obs.command(dev('printer-1', 'cmd/print'), { saleId: 'x' });
    expect(noEnvelope.json()).toMatchObject({ status: 'error', error: { code: 'TB_DEVICE_COMMAND_INVALID' } });
    const badArgs = await obs.command(dev('printer-1', 'cmd/print'), { correlation: 'bad-args', args: { saleId: 'nope' } });
    expect(badArgs.json()).toMatchObject({ status: 'error', correlation: 'bad-args', error: { code: 'TB_DEVICE_COMMAND_INVALID' } });
    const unknownCmd = await obs.command(dev('scanner-1', 'cmd/explode'), { correlation: 'u1', args: {} });
    expect(unknownCmd.json()).toMatchObject({ status: 'error', correlation: 'u1', error: { code: 'TB_DEVICE_COMMAND_UNKNOWN' } });
    // The drawer's internal refresh is not a command of the public contract.
    const internal = await obs.command(dev('drawer-1', 'cmd/refresh'), { correlation: 'i1', args: {} });
    expect(internal.json()).toMatchObject({ status: 'error', correlation: 'i1', error: { code: 'TB_DEVICE_COMMAND_UNKNOWN' } });
    const unknownDevice = await obs.command(dev('ghost', 'cmd/status'), { correlation: 'g1', args: {} });
    expect(unknownDevice.json()).toMatchObject({ status: 'error', error: { code: 'TB_DEVICE_UNKNOWN' } });
    const badReplyTo = await obs.command(dev('printer-1', 'cmd/status'), { correlation: 'r1', replyTo: `store/${S}/pos/sale`, args: {} });
    expect(badReplyTo.json()).toMatchObject({ status: 'error', error: { code: 'TB_DEVICE_COMMAND_INVALID' } });
    // Still alive and answering, on a custom reply topic too.
    const since = obs.mark();
    await obs.client.publishAsync(dev('printer-1', 'cmd/status'), JSON.stringify({ correlation: 's1', replyTo: dev('printer-1', 'replies/me'), args: {} }), { qos: 1 });
    const status = await obs.wait((m) => m.topic === dev('printer-1', 'replies/me'), since);
    expect(status.json()).toMatchObject({ status: 'ok', correlation: 's1', data: { id: 'printer-1', kind: 'printer', state: 'online' } });
  });

  it("prints the pairing code once when core's box status says the box waits for approval", async () => {
    const sim = devices.demo!.printer;
    await obs.wait(isState('printer-1', 'online'));
    const before = sim.completeReceipts().length;
    const status = { v: 1, deviceId: 'x', storeId: S, state: 'ok', selling: true, reasons: [], warnings: [], identity: { state: 'pending', pairingCode: '7KQ-4MZ' } };
    await obs.client.publishAsync(`store/${S}/box/status`, JSON.stringify(status), { qos: 1 });
    const t0 = Date.now();
    while (sim.completeReceipts().length === before && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(sim.renderText(sim.completeReceipts().at(-1)!)).toMatch(/7KQ-4MZ[\s\S]*tillbox-hq pairing approve 7KQ-4MZ/);
    // The same code again (every status update carries it): no second slip.
    await obs.client.publishAsync(`store/${S}/box/status`, JSON.stringify({ ...status, at: 'later' }), { qos: 1 });
    await new Promise((r) => setTimeout(r, 1500));
    expect(sim.completeReceipts().length).toBe(before + 1);
  });

  it('prints a receipt once per sale by itself, and cmd/print { saleId } reprints it', async () => {
    const sim = devices.demo!.printer;
    await obs.wait(isState('printer-1', 'online'));
    const before = sim.completeReceipts().length;
    const since = obs.mark();
    const sale = await postSale(box.port, `dev-sale-${Date.now()}`, { lines: [{ sku: 'MILK-1L', qty: 2 }], tenders: [{ type: 'cash', amount: 1000 }] });
    expect(sale.status).toBe(201);
    const saleId = sale.json().id as string;
    const printed = await obs.wait((m) => m.topic === dev('printer-1', 'printed') && m.json().saleId === saleId, since);
    expect(printed.json()).toMatchObject({ status: 'printed', possibleDuplicate: false, confirmedBy: 'process-id' });
    expect(sim.completeReceipts().length).toBe(before + 1);
    expect(sim.renderText(sim.completeReceipts().at(-1)!)).toContain('Whole milk 1 l');

    const reply = await obs.command(dev('printer-1', 'cmd/print'), { correlation: 'reprint-1', args: { saleId, reprint: true } });
    expect(reply.json()).toMatchObject({ status: 'ok', correlation: 'reprint-1', data: { duplicate: false } });
    const jobId = reply.json().data.jobId;
    await obs.wait((m) => m.topic === dev('printer-1', 'printed') && m.json().jobId === jobId);
    expect(sim.completeReceipts().length).toBe(before + 2);
    expect(sim.renderText(sim.completeReceipts().at(-1)!)).toContain('COPY');

    // The same command delivered again (QoS 1 redelivery, a retrying till) does not print twice.
    const again = await obs.command(dev('printer-1', 'cmd/print'), { correlation: 'reprint-1', args: { saleId, reprint: true } });
    expect(again.json().data.jobId).toBe(jobId);
    expect(sim.completeReceipts().length).toBe(before + 2);
  });

  it('opens the drawer through the printer kick connector', async () => {
    const sim = devices.demo!.printer;
    const kicked = new Promise<{ pin: number }>((resolve) => sim.once('drawer', resolve));
    const reply = await obs.command(dev('drawer-1', 'cmd/open'), { correlation: 'open-1', args: {} });
    expect(reply.json()).toMatchObject({ status: 'ok', data: { pulsed: true } });
    expect((await kicked).pin).toBe(2);
  });

  it('a clean stop publishes off-offline deaths and an offline host', async () => {
    const since = obs.mark();
    await devices.stop('test stop');
    await obs.wait(isState('printer-1', 'off-offline'), since);
    await obs.wait(isState('scanner-1', 'off-offline'), since);
    const host = await obs.wait((m) => m.topic === dev('host', 'state') && m.json().state === 'offline', since);
    expect(host.retain || host.json().reason).toBeTruthy();
  });

  it('a crash leaves the last will: host lost', async () => {
    const since0 = obs.mark();
    devices = await startDevices(box.stateDir);
    await obs.wait((m) => m.topic === dev('host', 'state') && m.json().state === 'online', since0);
    const since = obs.mark();
    devices.bus!.crash();
    const lost = await obs.wait((m) => m.topic === dev('host', 'state') && m.json().state === 'lost', since);
    expect(lost.json().reason).toMatch(/lost/);
    await devices.stop().catch(() => {});
  });

  // These two were skipped as an undiagnosed hang: DeviceBus.stop() after a
  // crash waited forever for a second mqtt.js end() (stop-after-crash.test.ts).
  it('a restart right after a crash republishes fresh births', async () => {
    const since0 = obs.mark();
    devices = await startDevices(box.stateDir);
    await obs.wait((m) => m.topic === dev('host', 'state') && m.json().state === 'online', since0);
    devices.bus!.crash();
    await devices.stop().catch(() => {});
    const since2 = obs.mark();
    devices = await startDevices(box.stateDir);
    await obs.wait((m) => m.topic === dev('host', 'state') && m.json().state === 'online', since2);
    await obs.wait(isState('printer-1', 'online'), since2);
  });
});
