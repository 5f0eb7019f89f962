import { afterEach, describe, expect, it } from 'vitest';
import type { DrawerStatus } from '../../contract/devices/drawer.ts';
import { PrinterDrawer } from '../../drivers/drawer/printer-drawer.ts';
import { rig, until, type Rig } from './printer-harness.ts';

let r: Rig;
afterEach(async () => {
  await r?.close();
});

describe('cash drawer on the printer kick connector (simulator over TCP)', () => {
  it('opens even while the printer is out of paper; status follows pin 3 open/closed', async () => {
    r = await rig();
    const { printer } = r.open();
    const drawer = new PrinterDrawer({ printer });
    const seen: DrawerStatus['drawer'][] = [];
    drawer.on('status', (s) => seen.push(s.drawer));
    drawer.start();
    printer.start();
    await printer.waitConnected();
    await until(
      () => drawer.drawer === 'closed',
      (c) => (drawer.on('status', c), () => drawer.off('status', c)),
    );
    r.sim.setPaper('out');
    await until(
      () => printer.status?.paper === 'empty',
      (c) => (printer.on('status', c), () => printer.off('status', c)),
    );
    expect(await drawer.open({ pin: 2, pulseMs: 100 })).toMatchObject({ pulsed: true });
    await until(
      () => drawer.drawer === 'open',
      (c) => (drawer.on('status', c), () => drawer.off('status', c)),
    );
    expect(r.sim.state.drawerOpen).toBe(true);
    r.sim.setDrawer(false);
    await until(
      () => drawer.drawer === 'closed',
      (c) => (drawer.on('status', c), () => drawer.off('status', c)),
    );
    expect(seen).toEqual(['closed', 'open', 'closed']);
    r.sim.setPower(false);
    await until(
      () => drawer.drawer === 'unknown',
      (c) => (drawer.on('status', c), () => drawer.off('status', c)),
    );
    drawer.stop();
  });
});
