import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { Aedes } from 'aedes';
import { compileSchema, describeErrors } from '../../lib/validate.ts';
import type { FastifyInstance } from 'fastify';
import type { IClientOptions } from 'mqtt';
import { CatalogData } from '../../contract/pos.ts';
import { hqDemoCatalog } from '../catalog/demo.ts';
import { CatalogStore } from '../catalog/store.ts';
import { detectProtocol, type ProtocolVersion } from '../ingest/mqtt.ts';
import { IngestWorker } from '../ingest/worker.ts';
import type { Db } from '../ledger/db.ts';
import { DEFAULT_REVIEW_THRESHOLD_MS, Ledger, type ApplyOutcome } from '../ledger/ledger.ts';
import { PgDb } from '../ledger/pg-db.ts';
import { PgliteDb } from '../ledger/pglite-db.ts';
import { migrate } from '../ledger/schema.ts';
import { createHqLogger, namespaced, type Logger } from '../log.ts';
import { HqControl } from './control.ts';
import { createHqHttp } from './http.ts';
import { EnrolmentService } from '../est/service.ts';
import { EstServer } from '../est/server.ts';

// The reference HQ, assembled: ledger database (PostgreSQL or PGlite), an
// embedded aedes cloud broker when no broker URL is given (the demo), N
// ingest workers, the control client (fleet status, catalog, conflicts) and
// the HTTP API. `startHq` is what `tillbox-hq` runs, and what the demo and
// end-to-end tests call in process.

export interface HqConfig {
  /** Cloud broker (mqtt:// or mqtts://). Absent: start an embedded aedes broker (MQTT 3.1.1) on mqttPort. */
  mqttUrl?: string | undefined;
  /** Embedded broker port (default 1884; 0 = any free port). */
  mqttPort: number;
  /** Embedded broker bind address (default 127.0.0.1: anonymous MQTT stays on loopback). */
  mqttHost: string;
  /** TLS / credentials for an external broker (CA, client cert and key contents). */
  mqttOptions?: IClientOptions | undefined;
  /** postgres:// URL. Absent: PGlite in `${dataDir}/pglite`. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** HTTP API port (default 8090; 0 = any free port). */
  httpPort: number;
  httpHost: string;
  /** Ingest workers in this process (default 1). */
  workers: number;
  /** Shared subscription group. */
  group: string;
  /** Events older than this (HLC wall time vs HQ receive time) are held for review. */
  reviewThresholdHours: number;
  /** Bearer token for /api/ (absent: open). */
  apiToken?: string | undefined;
  /** JSON CatalogData to seed HQ's catalog with on first start (absent: the demo catalog). */
  catalogFile?: string | undefined;
  /** EST enrolment listener (HTTPS) port; absent: no certificate provisioning (0 = any free port). */
  estPort?: number | undefined;
  estHost?: string | undefined;
  /** Extra host names / addresses for the EST server certificate (HQ_EST_HOSTNAMES, comma-separated). */
  estHostnames?: string[] | undefined;
  /** The device CA (HQ_CA_CERT_FILE / HQ_CA_KEY_FILE); absent: generated in `${dataDir}/est`. */
  caFiles?: { certFile: string; keyFile: string } | undefined;
  /** Device certificate lifetime (HQ_CERT_DAYS, default 30; HQ_CERT_SECONDS for tests). */
  certLifetimeMs: number;
  /** Fleet alerts: offline longer than this (HQ_ALERT_OFFLINE_S, default 300). */
  alertOfflineS: number;
  /** Fleet alerts: oldest pending event older than this (HQ_ALERT_BACKLOG_S, default 3600). */
  alertBacklogS: number;
}

export const HQ_DEFAULTS: HqConfig = {
  mqttPort: 1884,
  mqttHost: '127.0.0.1',
  dataDir: './.tillbox-hq',
  httpPort: 8090,
  httpHost: '127.0.0.1',
  workers: 1,
  group: 'hq',
  reviewThresholdHours: DEFAULT_REVIEW_THRESHOLD_MS / 3600_000,
  certLifetimeMs: 30 * 86_400_000,
  alertOfflineS: 300,
  alertBacklogS: 3600,
};

function int(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * HQ configuration from the environment: HQ_MQTT_URL, HQ_MQTT_PORT, HQ_MQTT_HOST,
 * HQ_MQTT_CA / HQ_MQTT_CERT / HQ_MQTT_KEY (file paths), HQ_MQTT_USERNAME / HQ_MQTT_PASSWORD,
 * HQ_DATABASE_URL, HQ_DATA_DIR, HQ_HTTP_PORT, HQ_HTTP_HOST, HQ_WORKERS, HQ_GROUP,
 * HQ_REVIEW_THRESHOLD_HOURS, HQ_API_TOKEN, HQ_CATALOG_FILE; provisioning: HQ_EST_PORT,
 * HQ_EST_HOST, HQ_EST_HOSTNAMES, HQ_CA_CERT_FILE / HQ_CA_KEY_FILE, HQ_CERT_DAYS, HQ_CERT_SECONDS.
 */
export function hqConfigFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<HqConfig> {
  const c: Partial<HqConfig> = {};
  if (env.HQ_MQTT_URL) c.mqttUrl = env.HQ_MQTT_URL;
  const mqttPort = int(env, 'HQ_MQTT_PORT', 0, 65535);
  if (mqttPort !== undefined) c.mqttPort = mqttPort;
  if (env.HQ_MQTT_HOST) c.mqttHost = env.HQ_MQTT_HOST;
  const tls: IClientOptions = {};
  if (env.HQ_MQTT_CA) tls.ca = readFileSync(env.HQ_MQTT_CA);
  if (env.HQ_MQTT_CERT) tls.cert = readFileSync(env.HQ_MQTT_CERT);
  if (env.HQ_MQTT_KEY) tls.key = readFileSync(env.HQ_MQTT_KEY);
  if (env.HQ_MQTT_USERNAME) tls.username = env.HQ_MQTT_USERNAME;
  if (env.HQ_MQTT_PASSWORD) tls.password = env.HQ_MQTT_PASSWORD;
  if (Object.keys(tls).length > 0) c.mqttOptions = tls;
  if (env.HQ_DATABASE_URL) c.databaseUrl = env.HQ_DATABASE_URL;
  if (env.HQ_DATA_DIR) c.dataDir = env.HQ_DATA_DIR;
  const httpPort = int(env, 'HQ_HTTP_PORT', 0, 65535);
  if (httpPort !== undefined) c.httpPort = httpPort;
  if (env.HQ_HTTP_HOST) c.httpHost = env.HQ_HTTP_HOST;
  const workers = int(env, 'HQ_WORKERS', 1, 64);
  if (workers !== undefined) c.workers = workers;
  if (env.HQ_GROUP) c.group = env.HQ_GROUP;
  const hours = int(env, 'HQ_REVIEW_THRESHOLD_HOURS', 0, 24 * 365 * 10);
  if (hours !== undefined) c.reviewThresholdHours = hours;
  if (env.HQ_API_TOKEN) c.apiToken = env.HQ_API_TOKEN;
  if (env.HQ_CATALOG_FILE) c.catalogFile = env.HQ_CATALOG_FILE;
  const estPort = int(env, 'HQ_EST_PORT', 0, 65535);
  if (estPort !== undefined) c.estPort = estPort;
  if (env.HQ_EST_HOST) c.estHost = env.HQ_EST_HOST;
  if (env.HQ_EST_HOSTNAMES)
    c.estHostnames = env.HQ_EST_HOSTNAMES.split(',')
      .map((h) => h.trim())
      .filter(Boolean);
  if (env.HQ_CA_CERT_FILE || env.HQ_CA_KEY_FILE) {
    if (!env.HQ_CA_CERT_FILE || !env.HQ_CA_KEY_FILE) throw new Error('HQ_CA_CERT_FILE and HQ_CA_KEY_FILE go together');
    c.caFiles = { certFile: env.HQ_CA_CERT_FILE, keyFile: env.HQ_CA_KEY_FILE };
  }
  const offline = int(env, 'HQ_ALERT_OFFLINE_S', 1, 30 * 86_400);
  if (offline !== undefined) c.alertOfflineS = offline;
  const backlog = int(env, 'HQ_ALERT_BACKLOG_S', 1, 30 * 86_400);
  if (backlog !== undefined) c.alertBacklogS = backlog;
  const days = int(env, 'HQ_CERT_DAYS', 1, 3650);
  const seconds = int(env, 'HQ_CERT_SECONDS', 5, 3650 * 86_400);
  if (seconds !== undefined) c.certLifetimeMs = seconds * 1000;
  else if (days !== undefined) c.certLifetimeMs = days * 86_400_000;
  return c;
}

export interface HqContext {
  /** Overrides of HQ_DEFAULTS (see hqConfigFromEnv). */
  config?: Partial<HqConfig>;
  log?: Logger;
  /** HQ clock (tests). */
  now?: () => number;
  /** An already open database (tests); HQ does not close it. */
  db?: Db;
  /** Test hook: after each batch COMMIT, before its ack is published. */
  afterCommit?: (outcome: ApplyOutcome) => void;
}

export interface RunningHq {
  config: HqConfig;
  httpPort: number;
  httpUrl: string;
  /** The cloud broker HQ uses (the embedded one's URL in demo mode). */
  mqttUrl: string;
  /** The embedded broker's port, when HQ runs one. */
  mqttPort: number | undefined;
  protocolVersion: ProtocolVersion;
  db: Db;
  ledger: Ledger;
  catalog: CatalogStore;
  control: HqControl;
  workers: IngestWorker[];
  http: FastifyInstance;
  /** Certificate provisioning, when HQ_EST_PORT is set. */
  enrolment: EnrolmentService | undefined;
  estUrl: string | undefined;
  stop(): Promise<void>;
}

async function startEmbeddedBroker(host: string, port: number, log: Logger): Promise<{ port: number; close(): Promise<void> }> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => res());
  });
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  log.info({ host, port: actual }, 'embedded cloud broker (aedes, MQTT 3.1.1) listening');
  return {
    port: actual,
    async close() {
      await new Promise<void>((res) => broker.close(() => res()));
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}

function loadSeedCatalog(file: string | undefined): CatalogData {
  if (!file) return hqDemoCatalog();
  const data: unknown = JSON.parse(readFileSync(file, 'utf8'));
  const check = compileSchema(CatalogData);
  if (!check(data)) throw new Error(`HQ_CATALOG_FILE ${file}: ${describeErrors(check.errors)}`);
  return data;
}

/** Starts HQ. Everything it started is stopped by `stop()`, in reverse order. */
export async function startHq(ctx: HqContext = {}): Promise<RunningHq> {
  const config: HqConfig = { ...HQ_DEFAULTS, ...ctx.config };
  const root = ctx.log ?? createHqLogger();
  const log = namespaced(root, 'hq');
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch((err: unknown) => log.warn({ err }, 'stop step failed'));
    stops.length = 0;
  };
  try {
    let db = ctx.db;
    if (!db) {
      if (config.databaseUrl) {
        db = new PgDb({ connectionString: config.databaseUrl, max: Math.max(4, config.workers + 3) });
        log.info({ db: 'postgres' }, 'ledger on PostgreSQL');
      } else {
        const dir = resolve(config.dataDir, 'pglite');
        mkdirSync(dir, { recursive: true });
        db = new PgliteDb(dir);
        log.info({ db: 'pglite', dir }, 'ledger on PGlite');
      }
      const opened = db;
      stops.push(() => opened.close());
    }
    await migrate(db);
    const now = ctx.now ?? Date.now;
    const ledger = new Ledger({ db, log: namespaced(root, 'ledger'), now, reviewThresholdMs: config.reviewThresholdHours * 3600_000 });
    const catalog = new CatalogStore({ db, now });
    if (await catalog.seed(loadSeedCatalog(config.catalogFile))) log.info({ file: config.catalogFile ?? '(demo catalog)' }, 'HQ catalog seeded');

    let mqttUrl = config.mqttUrl;
    let mqttPort: number | undefined;
    if (!mqttUrl) {
      const broker = await startEmbeddedBroker(config.mqttHost, config.mqttPort, namespaced(root, 'broker'));
      stops.push(() => broker.close());
      mqttPort = broker.port;
      mqttUrl = `mqtt://${config.mqttHost === '0.0.0.0' ? '127.0.0.1' : config.mqttHost}:${broker.port}`;
    }
    const protocolVersion = await detectProtocol(mqttUrl, config.mqttOptions ?? {}, log);
    log.info({ url: mqttUrl, mqtt: protocolVersion }, protocolVersion === 5 ? 'cloud broker speaks MQTT 5: shared subscriptions' : 'cloud broker speaks MQTT 3.1.1 only: one subscribing worker');

    const control = new HqControl({ ledger, catalog, log: namespaced(root, 'control'), url: mqttUrl, protocolVersion, mqttOptions: config.mqttOptions });
    await control.start();
    stops.push(() => control.stop());

    const workers: IngestWorker[] = [];
    for (let i = 0; i < config.workers; i++) {
      const w = new IngestWorker({
        ledger,
        log: namespaced(root, 'ingest'),
        url: mqttUrl,
        protocolVersion,
        index: i,
        group: config.group,
        mqttOptions: config.mqttOptions,
        onApplied: (outcome, storeId) => {
          control.greet(outcome.ack.deviceId, storeId).catch((err: unknown) => log.warn({ err }, 'catalog greeting failed'));
        },
        ...(ctx.afterCommit ? { afterCommit: ctx.afterCommit } : {}),
      });
      await w.start();
      stops.push(() => w.stop());
      workers.push(w);
    }

    let enrolment: EnrolmentService | undefined;
    let estUrl: string | undefined;
    if (config.estPort !== undefined) {
      enrolment = new EnrolmentService({ dataDir: config.dataDir, caFiles: config.caFiles, certLifetimeMs: config.certLifetimeMs, log: namespaced(root, 'est'), now });
      await enrolment.start();
      const est = new EstServer({ service: enrolment, host: config.estHost ?? config.httpHost, port: config.estPort, hostnames: config.estHostnames, log: namespaced(root, 'est'), now });
      await est.start();
      stops.push(() => est.stop());
      estUrl = est.url;
    }

    const http = createHqHttp({
      ledger,
      catalog,
      control,
      log: namespaced(root, 'http'),
      apiToken: config.apiToken,
      now,
      enrolment,
      fleet: { offlineAlertS: config.alertOfflineS, backlogAlertS: config.alertBacklogS },
    });
    await http.listen({ port: config.httpPort, host: config.httpHost });
    stops.push(() => http.close());
    const addr = http.server.address();
    const httpPort = typeof addr === 'object' && addr ? addr.port : config.httpPort;
    const httpUrl = `http://${config.httpHost === '0.0.0.0' ? '127.0.0.1' : config.httpHost}:${httpPort}`;
    log.info({ http: httpUrl, mqtt: mqttUrl, workers: config.workers }, 'HQ ready');

    return { config, httpPort, httpUrl, mqttUrl, mqttPort, protocolVersion, db, ledger, catalog, control, workers, http, enrolment, estUrl, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
