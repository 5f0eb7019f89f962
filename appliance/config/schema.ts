import { Type, type Static } from '@sinclair/typebox';
import { ANONYMOUS_ROLES } from '../../contract/roles.ts';
import { HEALTH_INTERVAL_DEFAULT_S, HEALTH_INTERVAL_MIN_S } from '../../contract/health.ts';
import { SCALE_PROTOCOLS } from '../../drivers/scale/types.ts';

// The config file format, version 1. This schema is the single source of
// truth: the TypeScript type, the defaults and the env overrides all come
// from it. Every object has a default so an empty file (or `version: 1`
// alone) yields a complete config.

const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'letters, digits, . _ - (max 64)' });
const LogLevel = Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)));

// Peripherals (issue 4 §1): one entry shape per kind, chosen by `kind` (a
// discriminated union, so an error names the field of that kind: a `mode` on a
// scale is an unknown key of a scale). Auto-discovered peripherals (USB
// hotplug, /dev/serial/by-id) need no entry. Cross-field rules (unique ids,
// the URI parsed by drivers/transports/uri.ts, a drawer's printer exists) are
// in appliance/config/peripherals.ts, also naming the field path.
const PeripheralUri = Type.String({
  minLength: 1,
  maxLength: 1024,
  pattern: '^(serial|tcp|usb|hid|file)://',
  description: 'serial:///dev/ttyUSB0?baud=9600, tcp://host:9100, usb://vid:pid, hid://vid:pid, file:///dev/usb/lp0',
});
const common = { id: Id, enabled: Type.Boolean({ default: true }) };
const entry = { additionalProperties: false } as const;
const ScannerEntry = Type.Object(
  {
    ...common,
    kind: Type.Literal('scanner'),
    uri: PeripheralUri,
    // How codes arrive (default serial for serial/tcp, hid-pos for hid).
    mode: Type.Optional(Type.Union([Type.Literal('serial'), Type.Literal('hid-pos'), Type.Literal('keyboard')])),
  },
  entry,
);
const ScaleEntry = Type.Object(
  {
    ...common,
    kind: Type.Literal('scale'),
    uri: PeripheralUri,
    // One of drivers/scale SCALE_PROTOCOLS, or auto (probe them).
    protocol: Type.Optional(Type.Union([...SCALE_PROTOCOLS, 'auto'].map((p) => Type.Literal(p)))),
  },
  entry,
);
const PrinterEntry = Type.Object(
  {
    ...common,
    kind: Type.Literal('printer'),
    uri: PeripheralUri,
    protocol: Type.Optional(Type.Literal('escpos')),
    // Model id from drivers/printer/models.ts (epson-tm-t88, generic-80, generic-58 ...).
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  entry,
);
const DrawerEntry = Type.Object(
  {
    ...common,
    kind: Type.Literal('drawer'),
    // A drawer on a printer's kick connector has `printer` (and `pin`) instead of a uri.
    uri: Type.Optional(PeripheralUri),
    printer: Type.Optional(Id),
    pin: Type.Optional(Type.Union([Type.Literal(2), Type.Literal(5)])),
  },
  entry,
);
const GpioEntry = Type.Object({ ...common, kind: Type.Literal('gpio'), uri: PeripheralUri }, entry);
const PERIPHERAL_ENTRIES = [ScannerEntry, ScaleEntry, PrinterEntry, DrawerEntry, GpioEntry];
/** The keys an entry of `kind` may have (for config error messages). */
export function peripheralKeys(kind: string): string[] | undefined {
  const e = PERIPHERAL_ENTRIES.find((x) => x.properties.kind.const === kind);
  return e ? Object.keys(e.properties) : undefined;
}
// TypeBox's Union is anyOf; ajv's discriminator (lib/validate.ts turns it on) needs oneOf.
const Peripheral = Type.Unsafe<Static<(typeof PERIPHERAL_ENTRIES)[number]>>({
  type: 'object',
  discriminator: { propertyName: 'kind' },
  required: ['kind'],
  oneOf: PERIPHERAL_ENTRIES,
});

export const ConfigSchema = Type.Object(
  {
    version: Type.Literal(1, { description: 'config format version' }),
    store: Type.Object(
      {
        id: Type.Optional(Id),
        name: Type.String({ default: 'tillbox store', maxLength: 120 }),
        currency: Type.String({ pattern: '^[A-Z]{3}$', default: 'EUR' }),
      },
      { default: {}, additionalProperties: false },
    ),
    device: Type.Object(
      {
        // Absent: a device id is generated once into the state dir at first start.
        id: Type.Optional(Id),
      },
      { default: {}, additionalProperties: false },
    ),
    http: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', minLength: 1 }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        bodyLimitBytes: Type.Integer({ minimum: 1024, maximum: 10_485_760, default: 65_536 }),
        // Tills on loopback (a kiosk browser on the box itself) need no token.
        loopbackOpen: Type.Boolean({ default: false }),
      },
      { default: {}, additionalProperties: false },
    ),
    mqtt: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', minLength: 1 }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 1883 }),
        anonymousLoopback: Type.Boolean({ default: false }),
        // Only a role that cannot publish POS events or read everything (contract/roles.ts ANONYMOUS_ROLES).
        anonymousRole: Type.Union(
          ANONYMOUS_ROLES.map((r) => Type.Literal(r)),
          { default: 'kiosk', description: `one of ${ANONYMOUS_ROLES.join(', ')}` },
        ),
        tls: Type.Object(
          {
            enabled: Type.Boolean({ default: false }),
            host: Type.String({ default: '0.0.0.0', minLength: 1 }),
            port: Type.Integer({ minimum: 0, maximum: 65535, default: 8883 }),
            certFile: Type.Optional(Type.String({ minLength: 1 })),
            keyFile: Type.Optional(Type.String({ minLength: 1 })),
          },
          { default: {}, additionalProperties: false },
        ),
        ws: Type.Object(
          {
            enabled: Type.Boolean({ default: true }),
            host: Type.String({ default: '127.0.0.1', minLength: 1 }),
            port: Type.Integer({ minimum: 0, maximum: 65535, default: 8083 }),
            tls: Type.Boolean({ default: false }),
          },
          { default: {}, additionalProperties: false },
        ),
        limits: Type.Object(
          {
            maxPacketSize: Type.Integer({ minimum: 1024, maximum: 268_435_455, default: 262_144 }),
            connectionsPerAddressPerMinute: Type.Integer({ minimum: 1, default: 60 }),
            queueLimit: Type.Integer({ minimum: 1, default: 1000 }),
            keepaliveMin: Type.Integer({ minimum: 0, default: 5 }),
            keepaliveMax: Type.Integer({ minimum: 1, maximum: 65535, default: 600 }),
            // Sockets on every listener, loopback included (issue 9: 6,000 raw sockets on the
            // loopback port starved core's HTTP API of file descriptors).
            // Sockets that have not completed CONNECT yet, in all and per remote address; each
            // gets connectTimeoutMs to send one.
            maxPendingConnects: Type.Integer({ minimum: 1, default: 64 }),
            maxPendingConnectsPerAddress: Type.Integer({ minimum: 1, default: 16 }),
            connectTimeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 }),
            // Authenticated clients other than core, devices and flows (kiosks, admin, anonymous):
            // in all and per address. The three services are never refused for room.
            maxConnections: Type.Integer({ minimum: 1, default: 200 }),
            maxConnectionsPerAddress: Type.Integer({ minimum: 1, default: 32 }),
            // Per client: subscriptions, and the length and depth of one filter.
            maxSubscriptionsPerClient: Type.Integer({ minimum: 1, default: 64 }),
            maxFilterLength: Type.Integer({ minimum: 16, maximum: 65535, default: 512 }),
            maxTopicLevels: Type.Integer({ minimum: 2, maximum: 128, default: 16 }),
            // Per persistent session, while its client is away: queued QoS 1/2 messages by count
            // and bytes (the oldest are dropped, counted), and how long an unused session lives.
            offlineQueueMax: Type.Integer({ minimum: 1, default: 1000 }),
            offlineQueueMaxBytes: Type.Integer({ minimum: 1024, default: 1_048_576 }),
            sessionExpiryHours: Type.Integer({ minimum: 1, default: 168 }),
          },
          { default: {}, additionalProperties: false },
        ),
        persistence: Type.Object(
          {
            // batch: group-committed fsync, a PUBACKed message survives power loss;
            // never: survives kill -9 of the process only (see appliance/broker/persistence.ts).
            sync: Type.Union([Type.Literal('batch'), Type.Literal('never')], { default: 'batch' }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    catalog: Type.Object(
      {
        // YAML or JSON catalog (currency, taxClasses, items) for a box that is not in
        // demo mode; HQ catalog sync replaces it later. Absent: the demo catalog in
        // demo mode, an empty catalog otherwise.
        file: Type.Optional(Type.String({ minLength: 1 })),
      },
      { default: {}, additionalProperties: false },
    ),
    // Certificate provisioning (provisioning/): with url and caFingerprint, an
    // unenrolled box enrols by pairing code on its own (`tillbox enroll` does it
    // with a token). The fingerprint is the SHA-256 of HQ's device CA, given out
    // of band (RFC 7030 §4.1.1).
    enrolment: Type.Object(
      {
        url: Type.Optional(Type.String({ pattern: '^https://', description: "HQ's EST server, https://host:port" })),
        caFingerprint: Type.Optional(Type.String({ pattern: '^(sha256[:=])?([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$', description: 'SHA-256 of HQ device CA, hex' })),
      },
      { default: {}, additionalProperties: false },
    ),
    cloud: Type.Object(
      {
        // Cloud broker the bridge syncs through (mqtt:// or mqtts://); absent: no sync.
        url: Type.Optional(Type.String({ pattern: '^mqtts?://', description: 'mqtt://host:1883 or mqtts://host:8883' })),
        // The broker's server certificate is checked against caFile when given, else the system
        // roots plus HQ's CA from enrolment. certFile/keyFile: a client certificate copied onto the
        // box; absent, an enrolled box uses its own identity (provisioning/).
        // Mutual TLS: CA bundle, client certificate and key (PEM files).
        caFile: Type.Optional(Type.String({ minLength: 1 })),
        certFile: Type.Optional(Type.String({ minLength: 1 })),
        keyFile: Type.Optional(Type.String({ minLength: 1 })),
        username: Type.Optional(Type.String({ minLength: 1 })),
        password: Type.Optional(Type.String({ minLength: 1 })),
        // auto: MQTT 5, falling back to 3.1.1 when the broker refuses 5.
        protocol: Type.Union([Type.Literal('auto'), Type.Literal('5'), Type.Literal('3.1.1')], { default: 'auto' }),
        keepaliveSec: Type.Integer({ minimum: 5, maximum: 1200, default: 30 }),
        connectTimeoutMs: Type.Integer({ minimum: 500, default: 10_000 }),
        // Reconnect: exponential backoff with full jitter between 0 and min(max, base * 2^attempt).
        backoffBaseMs: Type.Integer({ minimum: 1, default: 500 }),
        backoffMaxMs: Type.Integer({ minimum: 1, default: 60_000 }),
        // Journal lane: batch bounds (AWS IoT Core caps a message at 128 KB), window, ack timeout.
        batchMaxEvents: Type.Integer({ minimum: 1, maximum: 5000, default: 500 }),
        batchMaxBytes: Type.Integer({ minimum: 4096, maximum: 268_435_455, default: 131_072 }),
        maxInFlight: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
        ackTimeoutMs: Type.Integer({ minimum: 100, default: 15_000 }),
        liveMaxEvents: Type.Integer({ minimum: 1, maximum: 5000, default: 100 }),
        // Mapped topics (Mosquitto-style `topic` lines) and their QoS 1 store-and-forward bound.
        mapped: Type.Array(
          Type.Object(
            {
              direction: Type.Union([Type.Literal('out'), Type.Literal('in'), Type.Literal('both')]),
              local: Type.String({ minLength: 1 }),
              remote: Type.String({ minLength: 1 }),
              qos: Type.Union([Type.Literal(0), Type.Literal(1)], { default: 1 }),
            },
            { additionalProperties: false },
          ),
          { default: [] },
        ),
        mappedQueueMax: Type.Integer({ minimum: 1, default: 10_000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    flows: Type.Object(
      {
        // The flows process (embedded Node-RED, `tillbox flows`). The editor binds to
        // loopback by default; any other host needs lanTls (the LAN sees it only over TLS).
        enabled: Type.Boolean({ default: true, description: 'run the flows process under tillbox start' }),
        host: Type.String({ default: '127.0.0.1', minLength: 1 }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 1880, description: '0 picks a free port (tests)' }),
        // Hardened: palette manager, npm installs, function-node modules, exec and file nodes off.
        hardened: Type.Boolean({ default: true }),
        lanTls: Type.Object(
          {
            certFile: Type.Optional(Type.String({ minLength: 1 })),
            keyFile: Type.Optional(Type.String({ minLength: 1 })),
          },
          { default: {}, additionalProperties: false },
        ),
        // Synchronous function-node code running longer than this is stopped (0: never).
        functionTimeoutSec: Type.Integer({ minimum: 0, maximum: 600, default: 10 }),
        // Store overlay merged over the base store flows at start (JSON; see flows/store/README.md).
        // Absent: flows/store/overlays/<store id>.json when it exists.
        overlay: Type.Optional(Type.String({ minLength: 1 })),
      },
      { default: {}, additionalProperties: false },
    ),
    // Peripherals (issue 4 §1). Auto-discovered ones (USB hotplug, /dev/serial/by-id)
    // need no entry. Cross-field rules (unique ids, the URI parsed by
    // drivers/transports/uri.ts, a drawer's printer exists) are checked by
    // appliance/devices/config.ts checkPeripherals(), naming the field path.
    peripherals: Type.Array(Peripheral, { default: [], maxItems: 64 }),
    devices: Type.Object(
      {
        // The devices process (`tillbox devices`; supervised by `tillbox start`).
        enabled: Type.Boolean({ default: true, description: 'run the devices process under tillbox start' }),
        autoPrint: Type.Object(
          {
            // Print a receipt after each sale on `printer` (default: the first printer).
            enabled: Type.Boolean({ default: true }),
            printer: Type.Optional(Id),
            // Kick the drawer after a receipt of a sale with a cash tender.
            kickDrawerOnCash: Type.Boolean({ default: false }),
            // Sales older than this (delivered late after a long outage) are not auto-printed.
            maxAgeMinutes: Type.Integer({ minimum: 1, default: 60 }),
          },
          { default: {}, additionalProperties: false },
        ),
        receipt: Type.Object(
          {
            // Header lines under the store name (address, VAT id) and footer lines.
            lines: Type.Array(Type.String({ maxLength: 120 }), { default: [], maxItems: 10 }),
            footer: Type.Array(Type.String({ maxLength: 120 }), { default: ['Thank you!'], maxItems: 10 }),
            saleCode: Type.Union([Type.Literal('qr'), Type.Literal('code128'), Type.Literal('none')], { default: 'qr' }),
          },
          { default: {}, additionalProperties: false },
        ),
        // Variable-measure EAN-13 layouts (prefixes 20-29; country-specific).
        variableMeasure: Type.Array(
          Type.Object(
            {
              prefix: Type.String({ pattern: '^2[0-9]$' }),
              item: Type.Integer({ minimum: 1, maximum: 8 }),
              value: Type.Integer({ minimum: 3, maximum: 6 }),
              kind: Type.Union([Type.Literal('price'), Type.Literal('weight')]),
              hasPriceCheckDigit: Type.Boolean({ default: false }),
              decimals: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
            },
            { additionalProperties: false },
          ),
          { default: [], maxItems: 10 },
        ),
        // Keyboard-wedge scanners: host keyboard layout the scanner emulates.
        keyboardLayout: Type.String({ default: 'us', pattern: '^[a-z]{2}$' }),
        discovery: Type.Object(
          {
            // USB attach/detach events (printer class, HID POS scanners).
            usb: Type.Boolean({ default: true }),
            // Watch this directory for serial devices (udev's stable by-id names).
            serialById: Type.Boolean({ default: true }),
            serialByIdDir: Type.String({ default: '/dev/serial/by-id', minLength: 1 }),
          },
          { default: {}, additionalProperties: false },
        ),
        // --demo: start the simulators (pty scanner and scale, TCP 9100 printer) and use them.
        demoSimulators: Type.Boolean({ default: true }),
      },
      { default: {}, additionalProperties: false },
    ),
    log: Type.Object(
      {
        level: Type.Union(LogLevel.anyOf, { default: 'info' }),
        levels: Type.Record(Type.String(), LogLevel, { default: {} }),
      },
      { default: {}, additionalProperties: false },
    ),
    // Fleet health (contract/health.ts): fleet/{deviceId}/health every intervalS
    // (TILLBOX_HEALTH_INTERVAL_S) and at once when the alerts change.
    health: Type.Object(
      {
        intervalS: Type.Integer({ minimum: HEALTH_INTERVAL_MIN_S, maximum: 86_400, default: HEALTH_INTERVAL_DEFAULT_S }),
      },
      { default: {}, additionalProperties: false },
    ),
    storage: Type.Object(
      {
        // Sales are refused (503 disk-full) while the state dir's filesystem has less free
        // than this, so the box never runs its stores into a literally full disk; selling
        // resumes by itself once space is back. Capped at 10 % of the filesystem.
        minFreeMB: Type.Integer({ minimum: 1, default: 64 }),
        // A file of this size is held in the state dir and released when space runs out,
        // so the journal and broker can still recover and the box can record its own
        // state. Capped at 5 % of the filesystem; 0 disables it.
        reserveMB: Type.Integer({ minimum: 0, default: 16 }),
        checkIntervalMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 1000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    doctor: Type.Object(
      {
        minFreeDiskMB: Type.Integer({ minimum: 1, default: 200 }),
      },
      { default: {}, additionalProperties: false },
    ),
    demo: Type.Boolean({ default: false, description: 'demo catalog, open loopback; set by --demo' }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
