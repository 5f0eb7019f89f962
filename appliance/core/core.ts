import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import { ConfigError } from '../config/index.ts';
import { namespaced, type Logger } from '../log.ts';
import { ensureStateDir, statePaths } from '../state/state-dir.ts';
import { loadOrCreateDeviceId, loadOrCreateSecrets, type Secrets } from '../secrets/secrets.ts';
import { LevelJournal } from '../journal/level-journal.ts';
import { LocalBroker } from '../broker/broker.ts';
import { PosService } from '../pos/pos-service.ts';
import { createDemoCatalog, DEMO_STORE_ID } from '../pos/demo-catalog.ts';
import { loadCatalogFile } from './catalog-file.ts';
import { createHttpApi } from '../http/app.ts';
import { problem } from '../http/problem.ts';
import { PROBLEM_CONTENT_TYPE } from '../../contract/problem.ts';
import { ErrorCode } from '../../contract/errors.ts';
import { EventPublisher, readPublishCursor } from './event-publisher.ts';
import { LocalSubscriber } from './local-subscriber.ts';
import { ScaleReadings } from '../pos/scale-readings.ts';
import { registerStatusRoute } from './status-route.ts';
import type { IntegrityReport } from '../journal/types.ts';
import { removeRuntime, writeRuntime, type RuntimeInfo } from './runtime.ts';
import { CloudBridge, registerSyncStatusRoute } from '../sync/index.ts';
import { IdentityService } from '../../provisioning/identity-service.ts';
import { checkHqServerIdentity } from '../../provisioning/est-client.ts';
import { registerIdentityRoute } from './identity-route.ts';
import { HealthService } from '../health/health-service.ts';
import { MachineProbe } from '../health/machine.ts';
import { PeripheralTracker } from '../health/peripherals.ts';
import { registerHealthRoutes } from '../health/routes.ts';
import { registerStatusPage } from '../health/status-page.ts';
import { rootCertificates } from 'node:tls';
import { readSyncedSeq } from '../sync/sync-state.ts';
import { Catalog } from '../pos/catalog.ts';
import { StorageGuard } from '../storage/storage-guard.ts';
import { BoxStatusMonitor } from './box-status.ts';

export interface CoreContext {
  config: Config;
  stateDir: string;
  log: Logger;
}

/** Settings that follow from the config plus demo mode, resolved once. */
export interface Resolved {
  storeId: string;
  deviceId: string;
  loopbackOpen: boolean;
  anonymousLoopback: boolean;
}

export function resolveSettings(config: Config, deviceIdFile: string): Resolved {
  const storeId = config.store.id ?? (config.demo ? DEMO_STORE_ID : undefined);
  if (!storeId) throw new ConfigError('config', [{ path: 'store.id', message: 'is required (or start with --demo)' }]);
  return {
    storeId,
    deviceId: loadOrCreateDeviceId(deviceIdFile, config.device.id),
    loopbackOpen: config.http.loopbackOpen || config.demo,
    anonymousLoopback: config.mqtt.anonymousLoopback || config.demo,
  };
}

/**
 * The core process: broker, journal, POS service, event publisher and HTTP
 * API. The constructor only stores the context; start() opens everything in
 * dependency order and stop() closes it in reverse.
 */
export class Core {
  readonly #ctx: CoreContext;
  readonly #log: Logger;
  #ready = false;
  #journal: LevelJournal | undefined;
  #broker: LocalBroker | undefined;
  #pos: PosService | undefined;
  #publisher: EventPublisher | undefined;
  #listener: LocalSubscriber | undefined;
  #bridge: CloudBridge | undefined;
  #identity: IdentityService | undefined;
  #health: HealthService | undefined;
  #http: FastifyInstance | undefined;
  #runtime: RuntimeInfo | undefined;
  #integrity: IntegrityReport | null = null;
  #storage: StorageGuard | undefined;
  #status: BoxStatusMonitor | undefined;

  constructor(ctx: CoreContext) {
    this.#ctx = ctx;
    this.#log = namespaced(ctx.log, 'core', ctx.config.log.levels);
  }

  get ready(): boolean {
    return this.#ready;
  }

  get runtime(): RuntimeInfo | undefined {
    return this.#runtime;
  }

  get journal(): LevelJournal | undefined {
    return this.#journal;
  }

  get bridge(): CloudBridge | undefined {
    return this.#bridge;
  }

  get storage(): StorageGuard | undefined {
    return this.#storage;
  }

  async start(): Promise<void> {
    const { config, stateDir, log } = this.#ctx;
    const levels = config.log.levels;
    const paths = statePaths(stateDir);
    ensureStateDir(stateDir);
    const settings = resolveSettings(config, paths.deviceId);
    const { secrets, created } = loadOrCreateSecrets(paths.secrets);
    if (created) this.#log.info({ file: paths.secrets }, 'generated per-device secrets (show them with: tillbox secrets show)');

    // Construct everything (no I/O), then listen on HTTP first so /healthz
    // answers 503 while the journal and broker come up.
    const storage = new StorageGuard({
      dir: stateDir,
      minFreeBytes: config.storage.minFreeMB * 1048576,
      reserveBytes: config.storage.reserveMB * 1048576,
      checkIntervalMs: config.storage.checkIntervalMs,
      log: namespaced(log, 'storage', levels),
    });
    const journal = new LevelJournal({
      dir: paths.journal,
      deviceId: settings.deviceId,
      storeId: settings.storeId,
      log: namespaced(log, 'journal', levels),
      admit: () => storage.refusal(),
      onWriteError: (err) => storage.reportWriteError(err),
      knownSeq: () => Math.max(readPublishCursor(paths.publishCursor), readSyncedSeq(stateDir)),
    });
    // The box's certificate (provisioning/): the cloud link's client identity once
    // enrolled; renewed at 2/3 of its lifetime, and the link reconnects with it.
    const identity = new IdentityService({
      stateDir,
      deviceId: settings.deviceId,
      storeId: settings.storeId,
      enrolment: config.enrolment,
      log: namespaced(log, 'identity', levels),
      onRotated: () => {
        this.#bridge?.reconnect('certificate renewed');
        this.#broker?.reloadTls().catch((err: unknown) => this.#log.error({ err }, 'cannot reload the LAN TLS certificate'));
      },
    });
    const broker = new LocalBroker({
      ...brokerOptions(config, settings, secrets, stateDir, namespaced(log, 'broker', levels)),
      onStoreError: (err) => storage.reportWriteError(err),
      identity: () => {
        const m = identity.tlsMaterial();
        return m ? { cert: m.cert, key: m.key } : undefined;
      },
    });
    // Scale readings the devices process publishes, so a cart line can take the
    // latest *stable* weight ({ sku, scale }) instead of trusting the kiosk's number.
    const weights = new ScaleReadings(settings.storeId);
    const pos = new PosService({
      journal,
      catalog: config.catalog.file ? loadCatalogFile(config.catalog.file) : config.demo ? createDemoCatalog() : undefined,
      log: namespaced(log, 'pos', levels),
      storeId: settings.storeId,
      currency: config.store.currency,
      weights,
      variableMeasure: config.devices.variableMeasure,
    });
    const local = localCoreAccount(broker, secrets);
    const peripherals = new PeripheralTracker(settings.storeId, (id, state) => this.#bridge?.publishDeviceState(id, state));
    const listener = new LocalSubscriber({
      account: () => local,
      clientId: `core-${settings.deviceId}-pos`,
      filters: [...new Set([...weights.topics, ...peripherals.topics])],
      onMessage: (topic, payload) => {
        weights.onMessage(topic, payload);
        peripherals.onMessage(topic, payload);
      },
      log: namespaced(log, 'core', levels),
    });
    const publisher = new EventPublisher({
      journal,
      publish: (topic, payload, opts) => broker.publish(topic, payload, opts),
      storeId: settings.storeId,
      cursorFile: paths.publishCursor,
      log: namespaced(log, 'publisher', levels),
    });
    const status = new BoxStatusMonitor({
      deviceId: settings.deviceId,
      storeId: settings.storeId,
      storage,
      journal,
      broker,
      publisher,
      integrity: () => this.#integrity,
      identity: () => this.#identity?.summary() ?? { state: 'unenrolled' },
      publish: (topic, payload, opts) => broker.publish(topic, payload, opts),
      log: namespaced(log, 'core', levels),
    });
    const http = createHttpApi({
      pos,
      journal,
      log: namespaced(log, 'http', levels),
      auth: { tokens: secrets.api, loopbackOpen: settings.loopbackOpen },
      isReady: () => this.#ready,
      health: () => status.current(),
      bodyLimit: config.http.bodyLimitBytes,
    });
    const bridge = new CloudBridge({
      journal,
      tls: () => {
        const m = identity.tlsMaterial();
        if (!m) return undefined;
        // The cloud broker's certificate may come from another CA than the device certificates:
        // cloud.caFile when given (the link reads it), else the system roots plus HQ's CA.
        return {
          cert: m.cert,
          key: m.key,
          ...(config.cloud.caFile ? {} : { ca: [...rootCertificates, ...(m.ca ? [m.ca] : [])], checkServerIdentity: checkHqServerIdentity }),
        };
      },
      config: config.cloud,
      deviceId: settings.deviceId,
      storeId: settings.storeId,
      stateDir,
      log: namespaced(log, 'sync', levels),
      applyCatalog: (data) => pos.replaceCatalog(new Catalog(data)),
      local,
    });
    const health = new HealthService({
      deviceId: settings.deviceId,
      storeId: settings.storeId,
      machine: new MachineProbe({ stateDir }),
      status: () => status.current(),
      sync: () => bridge.status(),
      identity: () => identity.status(),
      broker: () => ({ clients: broker.clients, refused: Object.values(broker.refusals).reduce((a, b) => a + b, 0) }),
      peripherals: () => peripherals.list(),
      coreRssBytes: () => process.memoryUsage.rss(),
      publish: (doc) => bridge.publishHealth(doc),
      dropped: () => bridge.healthDropped,
      intervalMs: config.health.intervalS * 1000,
      log: namespaced(log, 'health', levels),
    });
    this.#health = health;
    this.#storage = storage;
    this.#status = status;
    this.#journal = journal;
    this.#broker = broker;
    this.#bridge = bridge;
    this.#identity = identity;
    this.#pos = pos;
    this.#publisher = publisher;
    this.#http = http;
    this.#listener = listener;

    registerStatusRoute(http, () => ({
      storeId: settings.storeId,
      deviceId: settings.deviceId,
      startedAt: this.#runtime?.startedAt ?? '',
      journal: { lastSeq: journal.lastSeq, lastHlc: journal.hlc, integrity: this.#integrity, batches: journal.stats.batches, appends: journal.stats.appends },
      publisher: { cursor: publisher.cursor, published: publisher.published, failures: publisher.failures },
      health: status.current(),
      memory: { rssMB: Math.round(process.memoryUsage.rss() / 1048576), heapUsedMB: Math.round(process.memoryUsage().heapUsed / 1048576) },
    }));
    registerSyncStatusRoute(http, () => bridge.status());
    registerIdentityRoute(http, () => identity.status());
    registerHealthRoutes(http, () => health.latest());
    registerStatusPage(http, async () => ({ health: await health.sample(), identity: await identity.status() }));
    // Until every service is up, the API answers 503 problem+json (healthz says why).
    http.addHook('onRequest', async (request, reply) => {
      if (this.#ready || !request.url.startsWith('/api/')) return;
      reply.code(503).header('retry-after', '1').type(PROBLEM_CONTENT_TYPE);
      return reply.send(problem(503, ErrorCode.NotReady, 'the box is starting'));
    });
    await http.listen({ host: config.http.host, port: config.http.port });
    await storage.start();
    await journal.start();
    await broker.start();
    await pos.start();
    await publisher.start();
    listener.start();
    // Connects in the background: selling never waits for the cloud.
    await bridge.start();
    identity.start();
    health.start();

    const addr = http.server.address();
    const httpPort = typeof addr === 'object' && addr ? addr.port : config.http.port;
    this.#runtime = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      storeId: settings.storeId,
      deviceId: settings.deviceId,
      http: { host: config.http.host, port: httpPort },
      mqtt: broker.addresses,
    };
    writeRuntime(paths.runtime, this.#runtime);
    this.#ready = true;
    status.start();
    // A full integrity scan is O(journal); run it after ready so start stays fast.
    // Corrupt records it finds are quarantined and reported by doctor.
    void journal.verify().then(
      (report) => {
        this.#integrity = report;
        status.evaluate();
        if (!report.ok) this.#log.error({ quarantined: report.quarantined.length, gaps: report.gaps.length, hlcRegressions: report.hlcRegressions.length }, 'journal integrity problems found');
      },
      (err: unknown) => this.#log.error({ err }, 'journal integrity scan failed'),
    );
    this.#log.info({ http: this.#runtime.http, mqtt: this.#runtime.mqtt, storeId: settings.storeId, deviceId: settings.deviceId }, 'core ready');
  }

  async stop(): Promise<void> {
    this.#ready = false;
    this.#status?.stop();
    this.#health?.stop();
    const steps: Array<[string, (() => Promise<unknown>) | undefined]> = [
      ['http', this.#http && (() => this.#http!.close())],
      ['identity', this.#identity && (() => this.#identity!.stop())],
      ['sync', this.#bridge && (() => this.#bridge!.stop())],
      ['publisher', this.#publisher && (() => this.#publisher!.stop())],
      ['listener', this.#listener && (() => this.#listener!.stop())],
      ['pos', this.#pos && (() => this.#pos!.stop())],
      ['broker', this.#broker && (() => this.#broker!.stop())],
      ['journal', this.#journal && (() => this.#journal!.stop())],
      ['storage', this.#storage && (() => this.#storage!.stop())],
    ];
    for (const [name, step] of steps) {
      if (!step) continue;
      try {
        await step();
      } catch (err) {
        this.#log.error({ err, step: name }, 'error while stopping');
      }
    }
    removeRuntime(statePaths(this.#ctx.stateDir).runtime);
  }
}

/** The local broker address and core account, for the bridge's mapped topics (resolved at bridge start). */
function localCoreAccount(broker: LocalBroker, secrets: Secrets): { url: string; username: string; password: string } | undefined {
  const core = secrets.mqtt.find((a) => a.role === 'core');
  if (!core) return undefined;
  return {
    get url() {
      const tcp = broker.addresses.tcp;
      const host = !tcp || tcp.host === '0.0.0.0' || tcp.host === '::' ? '127.0.0.1' : tcp.host;
      return `mqtt://${host.includes(':') ? `[${host}]` : host}:${tcp?.port ?? 0}`;
    },
    username: core.username,
    password: core.password,
  };
}

function brokerOptions(config: Config, settings: Resolved, secrets: Secrets, stateDir: string, log: Logger) {
  const m = config.mqtt;
  return {
    stateDir,
    storeId: settings.storeId,
    log,
    accounts: secrets.mqtt,
    tcp: { host: m.host, port: m.port },
    anonymousLoopback: { enabled: settings.anonymousLoopback, role: m.anonymousRole },
    tls: m.tls,
    ws: m.ws,
    limits: m.limits,
    persistence: m.persistence,
  };
}
