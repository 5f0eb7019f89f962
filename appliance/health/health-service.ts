import { readFileSync } from 'node:fs';
import { CERT_ALERT_DAYS, HEALTH_ALERT, HEALTH_LIST_MAX, SYNC_BACKLOG_ALERT_S, type HealthAlert, type HealthDocument } from '../../contract/health.ts';
import type { BoxStatus } from '../../contract/box-status.ts';
import type { IdentityStatus } from '../../contract/enrolment.ts';
import type { Logger } from '../log.ts';
import type { SyncStatus } from '../sync/cloud-bridge.ts';
import type { MachineProbe } from './machine.ts';

// The health document (contract/health.ts): sampled every health.intervalS and
// handed to the cloud bridge's bounded health lane; re-checked cheaply every
// few seconds so a new alert goes out at once, not at the next interval.

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** How often the alerts (not the machine figures) are re-evaluated. */
const ALERT_CHECK_MS = 5_000;

/** The figures of the bridge's status the health document carries. */
export type HealthSyncView = Pick<SyncStatus, 'enabled' | 'connected' | 'pending' | 'oldestPendingAgeMs' | 'lastAckAt' | 'conflicts' | 'dropped'>;

export interface HealthServiceContext {
  deviceId: string;
  storeId: string;
  machine: MachineProbe;
  status: () => BoxStatus;
  sync: () => Promise<HealthSyncView>;
  identity: () => Promise<Pick<IdentityStatus, 'state' | 'daysLeft'>>;
  broker: () => { clients: number; refused: number };
  peripherals: () => HealthDocument['peripherals'];
  coreRssBytes: () => number;
  /** Hands a document to the cloud (the bridge's bounded health lane); returns nothing, never throws. */
  publish: (doc: HealthDocument) => void;
  /** Health messages the lane dropped so far. */
  dropped: () => number;
  intervalMs: number;
  log: Logger;
  now?: () => number;
}

export class HealthService {
  readonly #ctx: HealthServiceContext;
  readonly #since = new Map<string, string>();
  readonly #startedAt = Date.now();
  #latest: HealthDocument | undefined;
  #timer: NodeJS.Timeout | undefined;
  #alertTimer: NodeJS.Timeout | undefined;
  #signature = '';
  #sampling: Promise<HealthDocument> | undefined;

  constructor(ctx: HealthServiceContext) {
    this.#ctx = ctx;
  }

  start(): void {
    const tick = () => void this.#publishNow();
    this.#timer = setInterval(tick, this.#ctx.intervalMs);
    this.#timer.unref();
    this.#alertTimer = setInterval(() => void this.#checkAlerts(), Math.min(ALERT_CHECK_MS, this.#ctx.intervalMs));
    this.#alertTimer.unref();
    tick();
  }

  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#alertTimer);
    this.#timer = this.#alertTimer = undefined;
  }

  /** The last document (sampled now if none yet). */
  async latest(): Promise<HealthDocument> {
    return this.#latest ?? this.sample();
  }

  /** One full sample (concurrent callers share it). */
  sample(): Promise<HealthDocument> {
    this.#sampling ??= this.#build().finally(() => (this.#sampling = undefined));
    return this.#sampling;
  }

  async #publishNow(): Promise<void> {
    try {
      const doc = await this.sample();
      this.#latest = doc;
      this.#signature = signature(doc.alerts);
      this.#ctx.publish(doc);
    } catch (err) {
      this.#ctx.log.warn({ err }, 'health sample failed');
    }
  }

  async #checkAlerts(): Promise<void> {
    try {
      const alerts = this.#alerts(this.#latest?.disk ?? null, this.#latest?.power ?? null, this.#latest?.clock ?? null, await this.#ctx.sync(), await this.#ctx.identity());
      if (signature(alerts) !== this.#signature) await this.#publishNow();
    } catch (err) {
      this.#ctx.log.debug({ err }, 'alert check failed');
    }
  }

  async #build(): Promise<HealthDocument> {
    const c = this.#ctx;
    const now = c.now?.() ?? Date.now();
    const [m, sync, identity] = await Promise.all([c.machine.sample(now), c.sync(), c.identity()]);
    const status = c.status();
    const broker = c.broker();
    return {
      v: 1,
      deviceId: c.deviceId,
      storeId: c.storeId,
      at: new Date(now).toISOString(),
      versions: { tillbox: VERSION, node: process.versions.node, os: m.os, image: m.image },
      uptimeS: { box: m.uptimeS, core: Math.round((now - this.#startedAt) / 1000) },
      cpu: m.cpu,
      memory: { ...m.memory, coreRssMB: Math.round((c.coreRssBytes() / 1048576) * 10) / 10 },
      disk: m.disk,
      network: m.network,
      power: m.power,
      clock: m.clock,
      broker,
      journal: { lastSeq: status.journal.lastSeq, state: status.journal.state },
      sync: {
        enabled: sync.enabled,
        connected: sync.connected,
        pending: sync.pending,
        oldestPendingAgeS: Math.round(sync.oldestPendingAgeMs / 1000),
        lastAckAt: sync.lastAckAt,
        conflicts: sync.conflicts,
        dropped: sync.dropped,
      },
      peripherals: c.peripherals().slice(0, HEALTH_LIST_MAX),
      certificate: { state: identity.state, daysLeft: identity.daysLeft },
      healthDropped: c.dropped(),
      alerts: this.#alerts(m.disk, m.power, m.clock, sync, identity).slice(0, HEALTH_LIST_MAX),
    };
  }

  #alerts(
    disk: HealthDocument['disk'] | null,
    power: HealthDocument['power'] | null,
    clock: HealthDocument['clock'] | null,
    sync: HealthSyncView,
    identity: Pick<IdentityStatus, 'state' | 'daysLeft'>,
  ): HealthAlert[] {
    const out: HealthAlert[] = [];
    const seen = new Set<string>();
    const add = (key: string, code: string, message: string) => {
      seen.add(key);
      if (!this.#since.has(key)) this.#since.set(key, new Date().toISOString());
      out.push({ code, message, since: this.#since.get(key)! });
    };
    const status = this.#ctx.status();
    for (const r of [...status.reasons, ...status.warnings]) add(`status:${r.code}`, r.code, r.message);
    if (disk && disk.totalMB > 0 && disk.freeMB / disk.totalMB < 0.1) add('disk', HEALTH_ALERT.DiskLow, `${disk.freeMB} MB of ${disk.totalMB} MB free`);
    if (power?.underVoltageNow) add('power', HEALTH_ALERT.UnderVoltage, 'under-voltage now: use the official power supply');
    if (clock?.synchronised === false) add('clock', HEALTH_ALERT.ClockUnsynchronised, 'the clock is not synchronised (NTP)');
    for (const p of this.#ctx.peripherals()) {
      if (p.state !== 'online') add(`peripheral:${p.id}`, HEALTH_ALERT.PeripheralOffline, `${p.kind} ${p.id} is ${p.state}`);
      if (p.paper === 'empty') add(`paper:${p.id}`, HEALTH_ALERT.PaperOut, `printer ${p.id} is out of paper`);
    }
    if ((identity.state === 'enrolled' || identity.state === 'expiring') && identity.daysLeft !== null && identity.daysLeft < CERT_ALERT_DAYS) {
      add('certificate', HEALTH_ALERT.CertificateExpiring, `the certificate expires in ${identity.daysLeft} days`);
    }
    if (sync.enabled && sync.oldestPendingAgeMs / 1000 > SYNC_BACKLOG_ALERT_S)
      add('sync', HEALTH_ALERT.SyncBacklog, `${sync.pending} events wait for HQ, the oldest for ${Math.round(sync.oldestPendingAgeMs / 60_000)} min`);
    for (const k of this.#since.keys()) if (!seen.has(k)) this.#since.delete(k);
    return out;
  }
}

function signature(alerts: HealthAlert[]): string {
  return alerts
    .map((a) => `${a.code}:${a.message.replace(/\d+/g, '#')}`)
    .sort()
    .join('|');
}
