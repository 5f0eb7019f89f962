import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { cpus, loadavg, networkInterfaces, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import type { HealthDocument } from '../../contract/health.ts';

// What the machine says about itself, read where it is cheapest: /proc and
// /sys directly: no program is spawned and nothing blocks the event loop that
// takes sales (systeminformation, used here before for the network, runs
// `ip`, `cat` and `ethtool` through execSync per call: ~150 ms of core's start
// on this machine, more on a Pi; issue 14). Every read is optional: a figure
// the kernel does not expose is null.

export interface MachineSample {
  cpu: HealthDocument['cpu'];
  memory: Omit<HealthDocument['memory'], 'coreRssMB'>;
  disk: HealthDocument['disk'];
  network: HealthDocument['network'];
  power: HealthDocument['power'];
  clock: HealthDocument['clock'];
  os: string;
  image: string | null;
  uptimeS: number;
}

const mb = (b: number): number => Math.round((b / 1048576) * 10) / 10;

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Highest temperature of the thermal zones (°C), or null. */
function cpuTemp(sys: string): number | null {
  let best: number | null = null;
  let zones: string[] = [];
  try {
    zones = readdirSync(join(sys, 'class/thermal')).filter((z) => z.startsWith('thermal_zone'));
  } catch {
    return null;
  }
  for (const z of zones) {
    const v = Number(read(join(sys, 'class/thermal', z, 'temp')));
    if (Number.isFinite(v) && v > 0) best = Math.max(best ?? 0, Math.round(v / 100) / 10);
  }
  return best;
}

/** Raspberry Pi firmware throttling flags (bits 0/2 now, 16/18 since boot), read from sysfs; null elsewhere. */
export function powerFlags(raw: string | undefined): HealthDocument['power'] {
  const v = raw === undefined ? Number.NaN : Number.parseInt(raw.trim(), 16);
  if (!Number.isFinite(v)) return { underVoltageNow: null, underVoltageSinceBoot: null, throttledNow: null, throttledSinceBoot: null };
  return { underVoltageNow: (v & 0x1) !== 0, throttledNow: (v & 0x4) !== 0, underVoltageSinceBoot: (v & 0x10000) !== 0, throttledSinceBoot: (v & 0x40000) !== 0 };
}

/** eMMC life time estimate type A (JEDEC EXT_CSD, 0x01..0x0B), from the first mmc device that has one. */
function wearLevel(sys: string): number | null {
  let devs: string[] = [];
  try {
    devs = readdirSync(join(sys, 'bus/mmc/devices'));
  } catch {
    return null;
  }
  for (const d of devs) {
    const v = read(join(sys, 'bus/mmc/devices', d, 'life_time'));
    if (v) {
      const n = Number.parseInt(v.trim().split(/\s+/)[0]!, 16);
      if (Number.isFinite(n) && n > 0) return n;
    }
  }
  return null;
}

export interface MachineOptions {
  /** The state dir: its filesystem is the one reported. */
  stateDir: string;
  /** /sys and /proc roots (tests point them at a fixture tree). */
  sysRoot?: string;
  procRoot?: string;
}

export class MachineProbe {
  readonly #o: MachineOptions;
  #network: { at: number; value: HealthDocument['network'] } | undefined;
  #os: string | undefined;

  constructor(options: MachineOptions) {
    this.#o = options;
  }

  async sample(now = Date.now()): Promise<MachineSample> {
    const sys = this.#o.sysRoot ?? '/sys';
    const proc = this.#o.procRoot ?? '/proc';
    const [l1, l5, l15] = loadavg();
    const meminfo = read(join(proc, 'meminfo')) ?? '';
    const avail = /MemAvailable:\s+(\d+)/.exec(meminfo);
    const fs = statfsSync(this.#o.stateDir);
    const uptime = Number((read(join(proc, 'uptime')) ?? '0').split(' ')[0]);
    return {
      cpu: { cores: cpus().length, load1: round2(l1!), load5: round2(l5!), load15: round2(l15!), tempC: cpuTemp(sys) },
      memory: { totalMB: mb(totalmem()), availableMB: avail ? mb(Number(avail[1]) * 1024) : 0 },
      disk: { freeMB: mb(fs.bavail * fs.bsize), totalMB: mb(fs.blocks * fs.bsize), wearLevel: wearLevel(sys) },
      network: this.#networkCached(now, proc),
      power: powerFlags(read(join(sys, 'devices/platform/soc/soc:firmware/get_throttled'))),
      // systemd-timesyncd marks a synchronised clock with this file (the image runs it).
      clock: { synchronised: read('/run/systemd/timesync/synchronized') !== undefined ? true : existsDir('/run/systemd/timesync') ? false : null },
      os: (this.#os ??= `${type()} ${release()}`),
      image: read('/etc/tillbox-image')?.trim() || null,
      uptimeS: Math.round(uptime),
    };
  }

  #networkCached(now: number, proc: string): HealthDocument['network'] {
    if (this.#network && now - this.#network.at < 5 * 60_000) return this.#network.value;
    const addrs = networkInterfaces();
    const lan = (iface: string) => (addrs[iface] ?? []).filter((a) => !a.internal);
    const iface = defaultRouteInterface(proc) ?? Object.keys(addrs).find((i) => lan(i).some((a) => a.family === 'IPv4'));
    const list = iface ? lan(iface) : [];
    const address = list.find((a) => a.family === 'IPv4') ?? list.find((a) => a.family === 'IPv6' && !a.address.startsWith('fe80:'));
    const value = { iface: iface ?? null, address: address?.address ?? null, wifiSignalDbm: iface ? wifiSignal(iface, proc) : null };
    this.#network = { at: now, value };
    return value;
  }
}

/**
 * The interface of the default route with the lowest metric: IPv4 from
 * /proc/net/route (destination and mask 0, flag RTF_UP), else IPv6 from
 * /proc/net/ipv6_route (prefix ::/0); undefined without one.
 */
export function defaultRouteInterface(proc = '/proc'): string | undefined {
  const best: { iface?: string; metric: number } = { metric: Number.POSITIVE_INFINITY };
  const consider = (iface: string | undefined, metric: number) => {
    if (iface && iface !== 'lo' && Number.isFinite(metric) && metric < best.metric) Object.assign(best, { iface, metric });
  };
  for (const line of (read(join(proc, 'net/route')) ?? '').split('\n').slice(1)) {
    const [iface, dest, , flags, , , metric, mask] = line.trim().split(/\s+/);
    if (dest === '00000000' && mask === '00000000' && (Number.parseInt(flags ?? '0', 16) & 1) === 1) consider(iface, Number.parseInt(metric ?? '', 10));
  }
  if (best.iface) return best.iface;
  for (const line of (read(join(proc, 'net/ipv6_route')) ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === '00') consider(f[9], Number.parseInt(f[5]!, 16));
  }
  return best.iface;
}

/** Signal of a Wi-Fi interface in dBm from /proc/net/wireless (no `iw` spawned), or null. */
function wifiSignal(iface: string, proc: string): number | null {
  const t = read(join(proc, 'net/wireless'));
  const line = t?.split('\n').find((l) => l.trim().startsWith(`${iface}:`));
  if (!line) return null;
  const level = Number.parseFloat(line.trim().split(/\s+/)[3] ?? '');
  return Number.isFinite(level) ? level : null;
}

function existsDir(p: string): boolean {
  try {
    readdirSync(p);
    return true;
  } catch {
    return false;
  }
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
