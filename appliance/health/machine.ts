import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import type { HealthDocument } from '../../contract/health.ts';

// What the machine says about itself, read where it is cheapest: /proc and
// /sys directly (no programs spawned per sample), systeminformation only for
// what changes rarely (network interface and address, cached). Every read is
// optional: a figure the kernel does not expose is null.

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
      network: await this.#networkCached(now),
      power: powerFlags(read(join(sys, 'devices/platform/soc/soc:firmware/get_throttled'))),
      // systemd-timesyncd marks a synchronised clock with this file (the image runs it).
      clock: { synchronised: read('/run/systemd/timesync/synchronized') !== undefined ? true : existsDir('/run/systemd/timesync') ? false : null },
      os: (this.#os ??= `${type()} ${release()}`),
      image: read('/etc/tillbox-image')?.trim() || null,
      uptimeS: Math.round(uptime),
    };
  }

  async #networkCached(now: number): Promise<HealthDocument['network']> {
    if (this.#network && now - this.#network.at < 5 * 60_000) return this.#network.value;
    let value: HealthDocument['network'] = { iface: null, address: null, wifiSignalDbm: null };
    try {
      // systeminformation reads /sys/class/net and /proc for this; loaded only when sampling.
      const si = await import('systeminformation');
      const ifaces = await si.networkInterfaces();
      const list = Array.isArray(ifaces) ? ifaces : [ifaces];
      const main = list.find((i) => i.default) ?? list.find((i) => !i.internal && i.ip4);
      if (main) value = { iface: main.iface, address: main.ip4 || main.ip6 || null, wifiSignalDbm: wifiSignal(main.iface) };
    } catch {
      // keep nulls
    }
    this.#network = { at: now, value };
    return value;
  }
}

/** Signal of a Wi-Fi interface in dBm from /proc/net/wireless (no `iw` spawned), or null. */
function wifiSignal(iface: string): number | null {
  const t = read('/proc/net/wireless');
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
