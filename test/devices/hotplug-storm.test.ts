// Hotplug storms against the real fs.watch of a by-id directory and real
// pseudo-terminals: symlinks appear and vanish quickly, the directory itself
// comes and goes, a scanner is unplugged mid-read. No crash, the final states
// are right, and no driver is left running for an absent device.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { autoDetect } from '@serialport/bindings-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../appliance/config/index.ts';
import { silentLogger } from '../../appliance/log.ts';
import { DevicesHost } from '../../appliance/devices/host.ts';
import { RecorderBus } from './recorder-bus.ts';
import { ManualUsbSource } from '../../appliance/devices/hotplug.ts';
import { SaleSource } from '../../appliance/devices/sales.ts';
import { PtyPort } from '../../drivers/sim/pty.ts';

const name = (i: number) => `usb-Honeywell_Imaging_1900_SN${i}-if00`;
const id = (i: number) => `scanner-honeywell_imaging_1900_sn${i}`;

describe('hotplug on /dev/serial/by-id', { timeout: 60_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), 'tillbox-hotplug-'));
  const byId = join(root, 'serial', 'by-id'); // absent at start, like a box with nothing plugged in
  const ptys: PtyPort[] = [];
  const bus = new RecorderBus();
  const usb = new ManualUsbSource();
  let host: DevicesHost;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) ptys.push(await PtyPort.open());
    const binding = autoDetect();
    host = new DevicesHost({
      config: validateConfig({ version: 1 }),
      bus,
      dataDir: join(root, 'data'),
      sales: new SaleSource({ baseUrl: () => undefined, log: silentLogger() }),
      log: silentLogger(),
      serialBinding: () => binding,
      usb,
      serialByIdDir: byId,
      backoff: { minMs: 20, maxMs: 200 },
    });
    await host.start();
  });

  afterAll(async () => {
    await host?.stop();
    for (const p of ptys) await p.close();
    usb.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('binds a scanner when its by-id link appears (directory created first) and reads codes from it', async () => {
    mkdirSync(byId, { recursive: true });
    symlinkSync(ptys[0]!.path, join(byId, name(0)));
    await bus.until(() => bus.states.get(id(0))?.state === 'online');
    expect(bus.states.get(id(0))).toMatchObject({ kind: 'scanner', vendor: 'Honeywell', uri: `serial://${join(byId, name(0))}` });
    const n = bus.events.length;
    ptys[0]!.write(']E04006381333931\r\n');
    await bus.until(() => bus.events.slice(n).some((e) => e.id === id(0) && e.event === 'scan'));
  });

  it('survives a storm of links appearing and vanishing and ends with the right states and no leaked drivers', async () => {
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 3; i++) {
        const link = join(byId, name(i));
        try {
          if ((round + i) % 2 === 0) symlinkSync(ptys[i]!.path, link);
          else unlinkSync(link);
        } catch {
          // already there / already gone
        }
      }
      if (round % 10 === 5) {
        // The whole directory disappears (last device unplugged) and comes back.
        rmSync(byId, { recursive: true, force: true });
        mkdirSync(byId, { recursive: true });
      }
    }
    // Final picture: 0 and 2 plugged, 1 not.
    for (const i of [0, 1, 2]) rmSync(join(byId, name(i)), { force: true });
    symlinkSync(ptys[0]!.path, join(byId, name(0)));
    symlinkSync(ptys[2]!.path, join(byId, name(2)));
    await host.serialWatcher!.rescan();
    await bus.until(
      () => bus.states.get(id(0))?.state === 'online' && bus.states.get(id(2))?.state === 'online' && (bus.states.get(id(1)) === undefined || bus.states.get(id(1))!.state === 'off-offline'),
    );
    const live = host
      .runners()
      .filter((r) => r.live)
      .map((r) => r.spec.id)
      .sort();
    expect(live).toEqual([id(0), id(2)]);
    // Each still reads: no second driver instance fighting over the pty.
    const n = bus.events.length;
    ptys[2]!.write(']E04006381333931\r\n');
    await bus.until(() => bus.events.slice(n).some((e) => e.id === id(2) && e.event === 'scan'));
    expect(bus.events.slice(n).filter((e) => e.id === id(2) && e.event === 'scan')).toHaveLength(1);
  });

  it('a scanner unplugged mid-read goes offline without a crash, and off-offline when its link goes', async () => {
    // Self-contained (runs alone with -t too): its scanner is plugged in and reading first.
    // After the storm above the by-id directory was removed and created again, often with
    // the same inode number: the unplug below is only seen if the watcher follows the new one.
    mkdirSync(byId, { recursive: true });
    const link = join(byId, name(2));
    for (const i of [0, 2]) {
      try {
        symlinkSync(ptys[i]!.path, join(byId, name(i)));
      } catch {
        // plugged in by the tests before
      }
    }
    await bus.until(() => bus.states.get(id(0))?.state === 'online' && bus.states.get(id(2))?.state === 'online');
    const n = bus.events.length;
    ptys[2]!.write(']E04006381333931\r\n');
    await bus.until(() => bus.events.slice(n).some((e) => e.id === id(2) && e.event === 'scan'));
    ptys[2]!.write(']E0400638'); // half a code on the wire
    await ptys[2]!.unplug();
    await bus.until(() => bus.states.get(id(2))?.state !== 'online');
    rmSync(link, { force: true });
    await bus.until(() => bus.states.get(id(2))?.state === 'off-offline' && bus.states.get(id(2))?.reason === 'unplugged');
    expect(host.runner(id(2))!.live).toBe(false);
    expect(bus.states.get(id(0))?.state).toBe('online');
  });

  it('USB attach/detach of a printer-class device creates a peripheral from the device table and kills nothing else', async () => {
    const dev = { vendorId: 0x04b8, productId: 0x0202, deviceClass: 0, interfaceClasses: [7], serialNumber: 'X5ZQ012345' };
    for (let k = 0; k < 20; k++) {
      usb.plug(dev);
      usb.unplug(dev);
    }
    usb.plug(dev);
    const pid = 'printer-04b8-0202-x5zq012345';
    await bus.until(() => bus.states.has(pid) && bus.states.get(pid)!.state !== 'off-offline');
    expect(bus.states.get(pid)).toMatchObject({ kind: 'printer', model: 'epson-tm-t88', uri: 'usb://04b8:0202/X5ZQ012345' });
    usb.unplug(dev);
    await bus.until(() => bus.states.get(pid)?.state === 'off-offline' && bus.states.get(pid)?.reason === 'unplugged');
    expect(host.runner(pid)!.live).toBe(false);
    expect(bus.states.get(id(0))?.state).toBe('online');
  });
});
