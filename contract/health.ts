import { Type, type Static } from '@sinclair/typebox';
import { IDENTITY_STATES } from './enrolment.ts';

// fleet/{deviceId}/health on the cloud broker (QoS 1, every health.intervalS and
// at once when the alerts change), GET /api/v1/health on core, and the source of
// GET /metrics. `null` wherever the machine does not expose a figure (no
// thermal zone, no Raspberry Pi firmware, no Wi-Fi): never a guess.

const N = Type.Union([Type.Number(), Type.Null()]);
const S = Type.Union([Type.String(), Type.Null()]);
const B = Type.Union([Type.Boolean(), Type.Null()]);
const closed = { additionalProperties: false } as const;

export const HealthAlert = Type.Object(
  {
    /** Stable code: a TB_* error code (contract/errors.ts) or a HEALTH_ALERT kind. */
    code: Type.String(),
    message: Type.String(),
    since: Type.String(),
  },
  closed,
);
export type HealthAlert = Static<typeof HealthAlert>;

export const HealthPeripheral = Type.Object(
  {
    id: Type.String(),
    kind: Type.String(),
    state: Type.String(),
    /** Printers: ok | near-empty | empty, when the printer reports it. */
    paper: Type.Optional(Type.String()),
  },
  closed,
);

export const HealthDocument = Type.Object(
  {
    v: Type.Literal(1),
    deviceId: Type.String(),
    storeId: Type.String(),
    at: Type.String(),
    versions: Type.Object({ tillbox: Type.String(), node: Type.String(), os: Type.String(), image: S }, closed),
    uptimeS: Type.Object({ box: Type.Number(), core: Type.Number() }, closed),
    cpu: Type.Object({ cores: Type.Integer(), load1: Type.Number(), load5: Type.Number(), load15: Type.Number(), tempC: N }, closed),
    memory: Type.Object({ totalMB: Type.Number(), availableMB: Type.Number(), coreRssMB: Type.Number() }, closed),
    disk: Type.Object(
      {
        freeMB: Type.Number(),
        totalMB: Type.Number(),
        /** eMMC life time estimate (JEDEC, 1 = 0–10 % used ... 11 = exceeded), where the kernel exposes it. */
        wearLevel: N,
      },
      closed,
    ),
    network: Type.Object({ iface: S, address: S, wifiSignalDbm: N }, closed),
    /** Raspberry Pi firmware flags (get_throttled): under-voltage and throttling now or since boot. */
    power: Type.Object({ underVoltageNow: B, underVoltageSinceBoot: B, throttledNow: B, throttledSinceBoot: B }, closed),
    clock: Type.Object({ synchronised: B }, closed),
    broker: Type.Object({ clients: Type.Integer(), refused: Type.Integer() }, closed),
    journal: Type.Object({ lastSeq: Type.Integer(), state: Type.String() }, closed),
    sync: Type.Object(
      { enabled: Type.Boolean(), connected: Type.Boolean(), pending: Type.Integer(), oldestPendingAgeS: Type.Number(), lastAckAt: S, conflicts: Type.Integer(), dropped: Type.Integer() },
      closed,
    ),
    peripherals: Type.Array(HealthPeripheral),
    certificate: Type.Object({ state: Type.Union(IDENTITY_STATES.map((s) => Type.Literal(s))), daysLeft: N }, closed),
    /** Health messages this box could not send (bounded lane: the oldest goes). */
    healthDropped: Type.Integer(),
    alerts: Type.Array(HealthAlert),
  },
  closed,
);
export type HealthDocument = Static<typeof HealthDocument>;

/** Alert kinds the box raises itself (besides the TB_* reasons of the box status). */
export const HEALTH_ALERT = {
  DiskLow: 'HEALTH_DISK_LOW',
  UnderVoltage: 'HEALTH_UNDER_VOLTAGE',
  ClockUnsynchronised: 'HEALTH_CLOCK_UNSYNCHRONISED',
  PeripheralOffline: 'HEALTH_PERIPHERAL_OFFLINE',
  PaperOut: 'HEALTH_PAPER_OUT',
  CertificateExpiring: 'HEALTH_CERTIFICATE_EXPIRING',
  SyncBacklog: 'HEALTH_SYNC_BACKLOG',
} as const;

/** Bounds of health.intervalS: the collector's budget is set for one sample a minute. */
export const HEALTH_INTERVAL_MIN_S = 1;
export const HEALTH_INTERVAL_DEFAULT_S = 60;
/** A certificate this close to expiry raises an alert. */
export const CERT_ALERT_DAYS = 14;
/** A sync backlog older than this raises an alert. */
export const SYNC_BACKLOG_ALERT_S = 3600;
