import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultRouteInterface, MachineProbe } from './machine.ts';

const lan = Object.entries(networkInterfaces()).flatMap(([iface, addrs]) => (addrs ?? []).filter((a) => !a.internal && a.family === 'IPv4').map((a) => ({ iface, address: a.address })));

const ROUTE_HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';
const dirs: string[] = [];
function procWith(files: Record<string, string>): string {
  const proc = mkdtempSync(join(tmpdir(), 'tillbox-proc-'));
  dirs.push(proc);
  mkdirSync(join(proc, 'net'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(proc, name), text);
  return proc;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('defaultRouteInterface', () => {
  it('takes the IPv4 default route with the lowest metric (Wi-Fi and Ethernet both up)', () => {
    const proc = procWith({
      'net/route': [
        ROUTE_HEADER,
        'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0',
        'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
        'eth0\t000200C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
      ].join('\n'),
    });
    expect(defaultRouteInterface(proc)).toBe('eth0');
  });

  it('ignores a default route that is down, and falls back to the IPv6 default route', () => {
    const proc = procWith({
      'net/route': `${ROUTE_HEADER}\neth0\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n`,
      'net/ipv6_route': [
        'fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0',
        '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000003 00000000 00000003    wlan0',
        '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo',
      ].join('\n'),
    });
    expect(defaultRouteInterface(proc)).toBe('wlan0');
  });

  it('says undefined for a box without a default route', () => {
    expect(defaultRouteInterface(procWith({ 'net/route': `${ROUTE_HEADER}\n` }))).toBeUndefined();
    expect(defaultRouteInterface(procWith({}))).toBeUndefined();
  });
});

describe('MachineProbe', () => {
  it.skipIf(lan.length === 0)("names this machine's network interface and its address, without spawning a program", async () => {
    const probe = new MachineProbe({ stateDir: tmpdir() });
    const { network } = await probe.sample();
    expect(lan).toContainEqual({ iface: network.iface, address: network.address });
  });
});
