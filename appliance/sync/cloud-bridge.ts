import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../../lib/atomic-file.ts';
import type { IPublishPacket } from 'mqtt';
import type { CatalogData } from '../../contract/pos.ts';
import type { HealthDocument } from '../../contract/health.ts';
import type { CloudCommand, FleetStatus, LossReport } from '../../contract/sync.ts';
import { cloudTopics, topicFilter, parseTopic } from '../../contract/topics.ts';
import type { Config } from '../config/index.ts';
import type { Journal } from '../journal/types.ts';
import type { Logger } from '../log.ts';
import { Backoff } from '../../lib/backoff.ts';
import { CatalogSync, type CatalogSyncStatus } from './catalog-sync.ts';
import { CloudLink, redactUrl, type LinkStatus } from './cloud-link.ts';
import { ConflictStore } from './conflicts.ts';
import { SyncError, SyncErrorCode } from './errors.ts';
import { JournalLane, type JournalLaneCounters } from './journal-lane.ts';
import { MappedTopics } from './mapped.ts';
import { parseAck, parseCatalogUpdate, parseCommand, parseConflictUpdate } from './messages.ts';
import { SyncStateStore, syncPaths, type RejectedInfo } from './sync-state.ts';

// The cloud bridge inside core: one connection to the cloud broker carrying
// the journal lane (exactly-once sync of POS events with HQ's ledger), the
// downstream catalog, conflict notices, cloud commands and mapped topics.
// The constructor only stores the context; start() loads the durable state
// and connects in the background (selling never waits for the cloud);
// stop() publishes `offline`, disconnects and flushes state.

export type CloudConfig = Config['cloud'];

export interface CloudBridgeContext {
  journal: Pick<Journal, 'readTexts' | 'getBySeq' | 'getById' | 'onCommit' | 'lastSeq'>;
  config: CloudConfig;
  deviceId: string;
  storeId: string;
  stateDir: string;
  log: Logger;
  /** Wall clock (injectable so tests can jump it); only used for timestamps and ages. */
  now?: () => number;
  /** Makes an HQ catalog live in the POS (throws when unusable). Absent: catalog updates are stored only. */
  applyCatalog?: (data: CatalogData) => void;
  /** Local broker URL + core account, needed only for mapped topics. */
  local?: { url: string; username: string; password: string };
  random?: () => number;
  /** The box's enrolled identity (client certificate, key, HQ CA), read at each connect. */
  tls?: () => { cert?: string; key?: string; ca?: string | string[]; checkServerIdentity?: (host: string, cert: import('node:tls').PeerCertificate) => Error | undefined } | undefined;
}

export interface SyncStatus {
  enabled: boolean;
  connected: boolean;
  /** Journal events HQ has not acked. */
  pending: number;
  /** Age of the oldest pending event (by its recordedAt), 0 when none. */
  oldestPendingAgeMs: number;
  lastAckAt: string | null;
  /** Open + held conflicts HQ reported for this box. */
  conflicts: number;
  /** Messages dropped by bounded lanes (mapped topics), ever. */
  dropped: number;
  lastSeq: number;
  lastAckedSeq: number;
  inFlight: number;
  /** Why the journal lane is not progressing, when it is not. */
  stalled: string | null;
  rejected: RejectedInfo;
  conflictCounts: { total: number; open: number; held: number; resolved: number };
  unreportedLoss: number;
  catalog: CatalogSyncStatus;
  link: (LinkStatus & { url: string }) | null;
  lane: JournalLaneCounters | null;
  mapped: ReturnType<MappedTopics['status']> | null;
}

export class CloudBridge {
  readonly #ctx: CloudBridgeContext;
  readonly #now: () => number;
  #state: SyncStateStore | undefined;
  #lane: JournalLane | undefined;
  #link: CloudLink | undefined;
  #catalog: CatalogSync | undefined;
  #conflicts: ConflictStore | undefined;
  #mapped: MappedTopics | undefined;
  #started = false;

  constructor(ctx: CloudBridgeContext) {
    this.#ctx = ctx;
    this.#now = ctx.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#ctx.config.url !== undefined;
  }

  get connected(): boolean {
    return this.#link?.connected ?? false;
  }

  async start(): Promise<void> {
    if (this.#started) throw new SyncError(SyncErrorCode.State, 'cloud bridge already started');
    const { config, deviceId, storeId, stateDir, log, journal } = this.#ctx;
    const paths = syncPaths(stateDir);
    const state = new SyncStateStore(paths.state, log);
    await state.load();
    const conflicts = new ConflictStore(paths.conflicts, log);
    await conflicts.load();
    this.#state = state;
    this.#conflicts = conflicts;
    this.#started = true;

    const catalog = new CatalogSync({
      file: paths.catalog,
      deviceId,
      log,
      apply: (data) => {
        if (!this.#ctx.applyCatalog) throw new Error('this box has no POS to apply a catalog to');
        this.#ctx.applyCatalog(data);
      },
      requestResync: (req) => this.#publish(cloudTopics.catalogResync(deviceId), JSON.stringify(req)),
    });
    this.#catalog = catalog;
    await catalog.load();

    if (!config.url) {
      log.info('no cloud.url configured; cloud sync is off');
      return;
    }

    const lane = new JournalLane({
      journal,
      state,
      deviceId,
      storeId,
      send: (json) => this.#publish(cloudTopics.events(deviceId), json),
      log,
      now: this.#now,
      limits: {
        batchMaxEvents: config.batchMaxEvents,
        batchMaxBytes: config.batchMaxBytes,
        maxInFlight: config.maxInFlight,
        ackTimeoutMs: config.ackTimeoutMs,
        liveMaxEvents: config.liveMaxEvents,
      },
      retry: new Backoff({ baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs, random: this.#ctx.random }),
      onConflicts: (notices) => conflicts.record(notices),
    });
    this.#lane = lane;

    if (config.mapped.length > 0) {
      if (!this.#ctx.local) {
        log.error('mapped topics configured but the local broker has no TCP listener; mapped topics are off');
      } else {
        this.#mapped = new MappedTopics({
          rules: config.mapped,
          deviceId,
          storeId,
          local: this.#ctx.local,
          queueDir: paths.mapped,
          queueMax: config.mappedQueueMax,
          state,
          log,
          now: this.#now,
          publishRemote: (topic, payload, qos) => this.#publish(topic, payload, qos),
          isOnline: () => this.connected,
        });
        await this.#mapped.start();
      }
    }

    const subscriptions = [
      cloudTopics.acks(deviceId),
      cloudTopics.catalog(deviceId),
      cloudTopics.conflicts(deviceId),
      topicFilter('command', { deviceId }),
      ...(this.#mapped?.remoteSubscriptions() ?? []),
    ];
    this.#link = new CloudLink({
      url: config.url,
      clientId: deviceId,
      protocol: config.protocol,
      caFile: config.caFile,
      certFile: config.certFile,
      keyFile: config.keyFile,
      tls: this.#ctx.tls,
      username: config.username,
      password: config.password,
      keepaliveSec: config.keepaliveSec,
      connectTimeoutMs: config.connectTimeoutMs,
      // Each connection attempt is a new session: count it durably before its will goes out.
      will: () => {
        this.#nextSession();
        return { topic: cloudTopics.fleetStatus(deviceId), payload: this.#fleetStatus('offline') };
      },
      subscriptions,
      backoff: new Backoff({ baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs, random: this.#ctx.random }),
      log,
      onUp: () => this.#onUp(),
      onDown: (reason) => {
        log.warn({ reason }, 'cloud link down; selling continues, sync resumes on reconnect');
        lane.offline();
      },
      onMessage: (topic, payload, packet) => this.#onMessage(topic, payload, packet),
    });
    lane.start();
    this.#link.start();
    log.info({ url: redactUrl(config.url), lastAckedSeq: state.lastAckedSeq, lastSeq: journal.lastSeq }, 'cloud bridge started');
  }

  /** Health messages dropped (link down, or replaced by a newer one while one was in flight). */
  get healthDropped(): number {
    return this.#health.dropped;
  }

  /**
   * The health lane (contract/health.ts): at most one health message in flight
   * and one waiting; a newer one replaces the waiting one (the oldest goes,
   * counted), and while the link is down nothing is queued. So health can
   * never hold up the journal lane, which owns everything else on the link.
   */
  publishHealth(doc: HealthDocument): void {
    if (!this.#link) return; // no cloud configured: nothing to send, nothing lost
    if (!this.#link.connected) {
      this.#health.dropped++;
      return;
    }
    const payload = JSON.stringify(doc);
    if (this.#health.inFlight) {
      if (this.#health.waiting !== undefined) this.#health.dropped++;
      this.#health.waiting = payload;
      return;
    }
    this.#sendHealth(payload);
  }

  #sendHealth(payload: string): void {
    this.#health.inFlight = true;
    this.#publish(cloudTopics.fleetHealth(this.#ctx.deviceId), payload, 1, false)
      .then(
        () => this.#health.sent++,
        () => this.#health.dropped++,
      )
      .finally(() => {
        this.#health.inFlight = false;
        const next = this.#health.waiting;
        this.#health.waiting = undefined;
        if (next !== undefined && this.#link?.connected) this.#sendHealth(next);
        else if (next !== undefined) this.#health.dropped++; // the link went down with one waiting
      });
  }

  /**
   * Mirrors a peripheral's state to the cloud, retained on
   * fleet/{deviceId}/devices/{peripheralId}/state (empty = gone). Kept here and
   * sent again after every reconnect, so HQ always ends with the latest.
   */
  publishDeviceState(peripheralId: string, state: object | undefined): void {
    if (state === undefined) this.#deviceStates.delete(peripheralId);
    else this.#deviceStates.set(peripheralId, JSON.stringify(state));
    this.#sendDeviceState(peripheralId);
  }

  #sendDeviceState(peripheralId: string): void {
    if (!this.#link?.connected) return;
    const payload = this.#deviceStates.get(peripheralId) ?? '';
    this.#publish(cloudTopics.fleetDeviceState(this.#ctx.deviceId, peripheralId), payload, 1, true).catch(() => undefined);
  }

  /** Reconnects the cloud link at once (a rotated certificate). */
  reconnect(reason: string): void {
    this.#link?.reconnect(reason);
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#lane?.stop();
    if (this.#link?.connected) {
      await this.#publish(cloudTopics.fleetStatus(this.#ctx.deviceId), this.#fleetStatus('offline'), 1, true).catch(() => undefined);
    }
    await this.#link?.stop();
    await this.#mapped?.stop();
    // save() may wait out the state file's write interval; flush() writes it now.
    void this.#state?.save();
    await this.#state?.flush();
    await this.#conflicts?.flush();
  }

  /** Resolves when HQ has acked everything committed so far (tests, benches). */
  whenSynced(): Promise<void> {
    return this.#lane?.whenIdle() ?? Promise.resolve();
  }

  async status(): Promise<SyncStatus> {
    const state = this.#state;
    const lane = this.#lane;
    const link = this.#link;
    const { journal } = this.#ctx;
    let oldestPendingAgeMs = 0;
    const first = lane?.firstPendingSeq();
    if (first !== undefined) {
      const event = await journal.getBySeq(first).catch(() => undefined);
      if (event) oldestPendingAgeMs = Math.max(0, this.#now() - Date.parse(event.recordedAt));
    }
    const counts = this.#conflicts?.counts() ?? { total: 0, open: 0, held: 0, resolved: 0 };
    const loss = state?.lossEntries() ?? [];
    return {
      enabled: this.enabled,
      connected: this.connected,
      pending: lane?.pending ?? Math.max(0, journal.lastSeq - (state?.lastAckedSeq ?? 0)),
      oldestPendingAgeMs,
      lastAckAt: state?.lastAckAt ?? null,
      conflicts: counts.open + counts.held,
      dropped: state?.droppedTotal ?? 0,
      lastSeq: journal.lastSeq,
      lastAckedSeq: state?.lastAckedSeq ?? 0,
      inFlight: lane?.inFlight ?? 0,
      stalled: lane?.stalled ?? null,
      rejected: state?.rejected ?? { count: 0 },
      conflictCounts: counts,
      unreportedLoss: loss.reduce((n, e) => n + e.dropped, 0),
      catalog: this.#catalog?.status() ?? { version: null, appliedAt: null, awaitingFull: false, applied: 0, ignored: 0, resyncRequests: 0, lastError: null },
      link: link ? { ...link.status(), url: redactUrl(this.#ctx.config.url ?? '') } : null,
      lane: lane ? { ...lane.counters } : null,
      mapped: this.#mapped?.status() ?? null,
    };
  }

  /** Conflict notices received from HQ (newest last). */
  conflicts() {
    return this.#conflicts?.list() ?? [];
  }

  // ---------------------------------------------------------------- internals

  #bdSeq: number | undefined;
  readonly #deviceStates = new Map<string, string>();
  readonly #health: { inFlight: boolean; waiting: string | undefined; dropped: number; sent: number } = { inFlight: false, waiting: undefined, dropped: 0, sent: 0 };

  #fleetStatus(state: 'online' | 'offline'): string {
    const s: FleetStatus = { state, deviceId: this.#ctx.deviceId, storeId: this.#ctx.storeId, at: new Date(this.#now()).toISOString() };
    if (this.#bdSeq !== undefined) s.bdSeq = this.#bdSeq;
    return JSON.stringify(s);
  }

  /**
   * The next cloud session number (FleetStatus.bdSeq), durable before use: after a
   * power cut it must still be above every number a will may carry.
   */
  #nextSession(): void {
    const file = syncPaths(this.#ctx.stateDir).bdSeq;
    let last = 0;
    try {
      last = Number.parseInt(readFileSync(file, 'utf8'), 10) || 0;
    } catch {
      // first session
    }
    const next = Math.max(last, this.#bdSeq ?? 0) + 1;
    try {
      writeFileAtomicSync(file, `${next}\n`, { durability: 'durable', mode: 0o600, mkdir: true });
    } catch (err) {
      this.#ctx.log.warn({ err }, 'cannot record the cloud session number; its death may be ignored by HQ');
    }
    this.#bdSeq = next;
  }

  #publish(topic: string, payload: string | Buffer, qos: 0 | 1 = 1, retain = false, properties?: IPublishPacket['properties']): Promise<void> {
    const link = this.#link;
    if (!link) return Promise.reject(new SyncError(SyncErrorCode.Stopped, 'cloud bridge is not connected'));
    return link.publish(topic, payload, properties ? { qos, retain, properties } : { qos, retain });
  }

  #onUp(): void {
    const { log, deviceId } = this.#ctx;
    void this.#publish(cloudTopics.fleetStatus(deviceId), this.#fleetStatus('online'), 1, true).catch((err: unknown) => log.debug({ err: (err as Error).message }, 'birth message not sent'));
    this.#lane?.online();
    for (const id of this.#deviceStates.keys()) this.#sendDeviceState(id);
    this.#catalog?.onOnline();
    this.#mapped?.onOnline();
    void this.#reportLoss();
  }

  async #reportLoss(): Promise<void> {
    const state = this.#state;
    if (!state) return;
    const entries = state.lossEntries();
    if (entries.length === 0) return;
    const report: LossReport = { v: 1, deviceId: this.#ctx.deviceId, entries, at: new Date(this.#now()).toISOString() };
    try {
      await this.#publish(cloudTopics.loss(this.#ctx.deviceId), JSON.stringify(report));
      state.clearReportedLoss(entries);
      await state.save();
      this.#ctx.log.info({ entries: entries.length, dropped: entries.reduce((n, e) => n + e.dropped, 0) }, 'loss report sent upstream');
    } catch (err) {
      this.#ctx.log.debug({ err: (err as Error).message }, 'loss report not sent; retried on reconnect');
    }
  }

  #onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const { deviceId, log } = this.#ctx;
    try {
      if (topic === cloudTopics.acks(deviceId)) {
        this.#lane?.handleAck(parseAck(payload));
      } else if (topic === cloudTopics.catalog(deviceId)) {
        void this.#catalog?.handle(parseCatalogUpdate(payload));
      } else if (topic === cloudTopics.conflicts(deviceId)) {
        this.#conflicts?.record(parseConflictUpdate(payload).conflicts);
      } else if (parseTopic('command', topic, { deviceId })) {
        void this.#onCommand(parseTopic('command', topic)!.command!, parseCommand(payload), packet);
      } else if (!this.#mapped?.handleRemote(topic, payload)) {
        log.debug({ topic }, 'cloud message on an unexpected topic ignored');
      }
    } catch (err) {
      log.warn({ err: (err as Error).message, topic }, 'cloud message ignored');
    }
  }

  async #onCommand(command: string, cmd: CloudCommand, packet: IPublishPacket): Promise<void> {
    const { deviceId, log } = this.#ctx;
    let reply: { status: 'ok' | 'error'; data?: unknown; error?: { code: string; message: string }; correlation: string };
    try {
      reply = { status: 'ok', data: await this.#runCommand(command, cmd), correlation: cmd.correlation };
    } catch (err) {
      reply = { status: 'error', error: { code: (err as SyncError).code ?? 'TB_SYNC_COMMAND', message: (err as Error).message }, correlation: cmd.correlation };
    }
    const props = packet.properties;
    let replyTo = cloudTopics.commandReply(deviceId, command);
    // Only reply inside this device's own namespace, whatever the request asks.
    const candidate = props?.responseTopic ?? cmd.replyTo;
    if (candidate?.startsWith(cloudTopics.deviceNamespace(deviceId)) && !/[#+]/.test(candidate)) replyTo = candidate;
    const properties = props?.correlationData ? { correlationData: props.correlationData } : undefined;
    await this.#publish(replyTo, JSON.stringify(reply), 1, false, properties).catch((err: unknown) => log.warn({ err: (err as Error).message, command }, 'command reply not sent'));
  }

  async #runCommand(command: string, cmd: CloudCommand): Promise<unknown> {
    switch (command) {
      case 'sync.status':
        return this.status();
      case 'catalog.resync':
        await this.#catalog?.requestFull(typeof cmd.args?.reason === 'string' ? cmd.args.reason : 'requested by HQ');
        return { requested: true };
      case 'sync.resend':
        this.#lane?.online();
        return { from: (this.#state?.lastAckedSeq ?? 0) + 1 };
      default:
        throw new SyncError(SyncErrorCode.BadMessage, `unknown command ${command}`);
    }
  }
}
