import { Type, type Static } from '@sinclair/typebox';
import { IDENTITY_STATES } from './enrolment.ts';

// fleet/{deviceId}/health on the cloud broker (QoS 1, every health.intervalS and
// at once when the alerts change), GET /api/v1/health on core, and the source of
// GET /metrics. `null` wherever the machine does not expose a figure (no
// thermal zone, no Raspberry Pi firmware, no Wi-Fi): never a guess.

// Bounded, because HQ stores and renders what a box sends.
const Str = (max = 256) => Type.String({ maxLength: max });
const N = Type.Union([Type.Number(), Type.Null()]);
const S = Type.Union([Str(), Type.Null()]);
/** At most this many alerts and peripherals in one document (the box truncates; HQ refuses more). */
export const HEALTH_LIST_MAX = 64;
const B = Type.Union([Type.Boolean(), Type.Null()]);
const closed = { additionalProperties: false } as const;

export const HealthAlert = Type.Object(
  {
    /** Stable code: a TB_* error code (contract/errors.ts) or a HEALTH_ALERT kind. */
    code: Str(64),
    message: Str(512),
    since: Str(40),
  },
  closed,
);
export type HealthAlert = Static<typeof HealthAlert>;

export const HealthPeripheral = Type.Object(
  {
    id: Str(64),
    kind: Str(32),
    state: Str(32),
    /** Printers: ok | near-empty | empty, when the printer reports it. */
    paper: Type.Optional(Str(32)),
  },
  closed,
);

export const HealthDocument = Type.Object(
  {
    v: Type.Literal(1),
    deviceId: Str(64),
    storeId: Str(64),
    at: Str(40),
    versions: Type.Object({ tillbox: Str(64), node: Str(64), os: Str(), image: S }, closed),
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
    journal: Type.Object({ lastSeq: Type.Integer(), state: Str(32) }, closed),
    sync: Type.Object(
      { enabled: Type.Boolean(), connected: Type.Boolean(), pending: Type.Integer(), oldestPendingAgeS: Type.Number(), lastAckAt: S, conflicts: Type.Integer(), dropped: Type.Integer() },
      closed,
    ),
    peripherals: Type.Array(HealthPeripheral, { maxItems: HEALTH_LIST_MAX }),
    certificate: Type.Object({ state: Type.Union(IDENTITY_STATES.map((s) => Type.Literal(s))), daysLeft: N }, closed),
    /** Health messages this box could not send (bounded lane: the oldest goes). */
    healthDropped: Type.Integer(),
    alerts: Type.Array(HealthAlert, { maxItems: HEALTH_LIST_MAX }),
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
