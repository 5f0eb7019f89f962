// The local MQTT broker of the core process: aedes 1.x on a level store, with
// tillbox's connection policy (authentication, client-id binding, role ACL,
// limits) and the ordering fix for moscajs/aedes#994 (persistence.ts,
// ordered-delivery.ts).
import { mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type Client, type ConnectPacket, type PublishPacket, type Subscription as AedesSubscription } from 'aedes';
import { Level } from 'level';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from '../log.ts';
import { validateConfig, type Config } from '../config/index.ts';
import type { Role } from '../../contract/roles.ts';
import { mayPublish, maySubscribe } from '../../contract/roles.ts';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import { OrderedLevelPersistence, type BrokerDb, type SyncPolicy } from './persistence.ts';
import { assertPinnedVersions, ConformanceHooks, holdPubacks, installOrderedDelivery, onConnackSessionState, type GateableBroker } from './aedes-patches/index.ts';
import { guardPacketSize } from './packet-guard.ts';
import { isCorruptionError, repairDb } from '../storage/level-repair.ts';
import { ConnectionGuard, type Refusal } from './connection-guard.ts';
import { markDenied } from './persistence.ts';
import { AccountTable, ConnectionRateLimiter, decideConnect, effectiveKeepalive, isLoopbackAddress, ANONYMOUS_PREFIX, type Account, type Identity } from './policy.ts';
import { writeFileAtomic } from '../../lib/atomic-file.ts';

export interface ListenAddress {
  host: string;
  port: number;
  /** URL scheme clients use (mqtt, mqtts, ws, wss); set on bound addresses. */
  scheme?: 'mqtt' | 'mqtts' | 'ws' | 'wss';
}

/** The broker's limits: the config schema's mqtt.limits is their one source (type and defaults). */
export type BrokerLimits = Config['mqtt']['limits'];

export interface BrokerOptions {
  /** Persistence lives in `${stateDir}/broker`, the generated TLS pair in `${stateDir}/tls`. */
  stateDir: string;
  storeId: string;
  log: Logger;
  accounts: Account[];
  /** Loopback listener (default 127.0.0.1:1883). Port 0 picks a free port. */
  tcp: ListenAddress;
  /** Anonymous clients, only from 127.0.0.0/8 or ::1, get this role. */
  anonymousLoopback: { enabled: boolean; role: Role };
  /** LAN listener (8883). Without files a per-box self-signed pair is generated once. */
  tls: { enabled: boolean; host: string; port: number; certFile?: string; keyFile?: string };
  /** MQTT over WebSocket for browser kiosks; `tls` reuses the TLS pair. */
  ws: { enabled: boolean; host: string; port: number; tls: boolean };
  limits: BrokerLimits;
  persistence: { sync: SyncPolicy };
  /** Told about every failed store write (the storage guard re-checks free space). */
  onStoreError?: (err: unknown) => void;
  /**
   * The box's HQ-issued certificate (provisioning/), used by the LAN TLS and
   * wss listeners instead of the self-signed pair when no files are given, so
   * kiosks can verify the broker against HQ's CA. See reloadTls().
   */
  identity?: () => { cert: string; key: string } | undefined;
}

export const DEFAULT_LIMITS: BrokerLimits = validateConfig({ version: 1 }).mqtt.limits;

export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
}

const SESSION_SWEEP_MS = 3_600_000;

interface ConnInfo {
  remoteAddress: string | undefined;
  listener: 'tcp' | 'tls' | 'ws';
  /** The raw TCP connection's key in the connection guard. */
  key: string;
  /** Set once authenticated: for CONNACK's Session Present. */
  clientId?: string;
  clean?: boolean;
}

/** One TCP connection, the same whether seen as the raw socket or as the TLS / WebSocket stream on it. */
function connKey(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined; localPort?: number | undefined }): string {
  return `${socket.remoteAddress}|${socket.remotePort}|${socket.localPort}`;
}

function streamKey(stream: Duplex, remoteAddress: string | undefined): string {
  const s = stream as unknown as { remotePort?: number; localPort?: number; _socket?: { remotePort?: number; localPort?: number } };
  const raw = s.remotePort !== undefined ? s : (s._socket ?? {});
  return connKey({ remoteAddress, remotePort: raw.remotePort, localPort: raw.localPort });
}

export class LocalBroker {
  readonly #opts: BrokerOptions;
  readonly #log: Logger;
  #aedes: Aedes | undefined;
  #persistence: OrderedLevelPersistence | undefined;
  #tcp: NetServer | undefined;
  #tlsServer: TlsServer | undefined;
  #wsHttp: HttpServer | undefined;
  #wss: WebSocketServer | undefined;
  readonly #sockets = new Set<Duplex>();
  readonly #conns = new WeakMap<object, ConnInfo>();
  readonly #identities = new WeakMap<object, Identity>();
  #accounts: AccountTable | undefined;
  #rate: ConnectionRateLimiter | undefined;
  #guard: ConnectionGuard | undefined;
  readonly #conformance = new ConformanceHooks();
  /** The client id a CONNECT supplied (before aedes assigns one to an empty id) and its clean flag. */
  readonly #connects = new WeakMap<object, { suppliedId: string | undefined; clean: boolean }>();
  #sweep: NodeJS.Timeout | undefined;
  /** Filters granted per client in this connection (the per-client subscription cap). */
  readonly #subs = new WeakMap<object, Set<string>>();
  /** Raw TCP sockets by their guard key, so the guard can have the oldest pending one closed. */
  readonly #rawSockets = new Map<string, Socket>();
  readonly #publishAcl = new Map<string, boolean>();
  #started = false;

  constructor(opts: BrokerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
  }

  get addresses(): { tcp?: ListenAddress; tls?: ListenAddress; ws?: ListenAddress } {
    const out: { tcp?: ListenAddress; tls?: ListenAddress; ws?: ListenAddress } = {};
    const addr = (s: NetServer | HttpServer | undefined): ListenAddress | undefined => {
      const a = s?.address() as AddressInfo | null | undefined;
      return a ? { host: a.address, port: a.port } : undefined;
    };
    const tcp = addr(this.#tcp);
    const tls = addr(this.#tlsServer);
    const ws = addr(this.#wsHttp);
    if (tcp) out.tcp = { ...tcp, scheme: 'mqtt' };
    if (tls) out.tls = { ...tls, scheme: 'mqtts' };
    if (ws) out.ws = { ...ws, scheme: this.#opts.ws.tls ? 'wss' : 'ws' };
    return out;
  }

  /** The aedes broker id of this boot (`{storeId}-b{boot}`, sortable across restarts). */
  /** MQTT clients connected now (services included). */
  get clients(): number {
    return this.#aedes?.connectedClients ?? 0;
  }

  get id(): string | undefined {
    return this.#aedes?.id;
  }

  async start(): Promise<void> {
    if (this.#started) throw new TillboxError(ErrorCode.BrokerStartFailed, 'broker already started');
    this.#started = true;
    const o = this.#opts;
    try {
      assertPinnedVersions();
      this.#accounts = new AccountTable(o.accounts);
      this.#rate = new ConnectionRateLimiter(o.limits.connectionsPerAddressPerMinute);
      this.#guard = new ConnectionGuard(o.limits);
      const dir = join(o.stateDir, 'broker');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const db = await this.#openStore(dir);
      const id = await this.#nextBrokerId(db);
      this.#persistence = new OrderedLevelPersistence({
        db,
        sync: o.persistence.sync,
        onWriteError: (err, phase) => {
          this.#log.error({ err, phase }, phase === 'write' ? 'broker store write failed; reopening it (nothing in the batch was acknowledged)' : 'broker store reopen failed; retrying');
          o.onStoreError?.(err);
        },
        onRecovered: () => this.#log.warn('broker store reopened; taking writes again'),
        queueMax: o.limits.offlineQueueMax,
        queueMaxBytes: o.limits.offlineQueueMaxBytes,
        onDrop: (clientId, count) => this.#dropped(clientId, count),
      });
      const aedes = new Aedes({
        id,
        persistence: this.#persistence,
        queueLimit: o.limits.queueLimit,
        keepaliveLimit: 0,
        maxClientsIdLength: 23,
        preConnect: (client, packet, cb) => this.#preConnect(client, packet, cb),
        authenticate: (client, username, password, cb) => this.#authenticate(client, username, password, cb),
        authorizePublish: (client, packet, cb) => this.#authorizePublish(client, packet, cb),
        authorizeSubscribe: (client, sub, cb) => this.#authorizeSubscribe(client, sub, cb),
        authorizeForward: (client, packet) => this.#conformance.forward(client as never, packet as never) as never,
      });
      onConnackSessionState((stream) => {
        const info = this.#conns.get(stream);
        return info?.clientId !== undefined && !info.clean && this.#persistence!.hasSessionState(info.clientId);
      });
      this.#aedes = aedes;
      installOrderedDelivery(aedes as unknown as GateableBroker);
      aedes.on('clientError', (client, err) => this.#log.debug({ clientId: client.id, err: err.message }, 'client error'));
      aedes.on('connectionError', (_client, err) => this.#log.debug({ err: err.message }, 'connection error'));
      (aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => this.#log.error({ err }, 'broker error'));
      await aedes.listen();
      // Persistent sessions: when each was last seen, and an hourly sweep of the expired ones.
      aedes.on('client', (client) => {
        if (!client.clean) this.#persistence!.touchSession(client.id);
      });
      aedes.on('clientDisconnect', (client) => {
        if (!client.clean) this.#persistence!.touchSession(client.id);
      });
      void this.expireSessions();
      this.#sweep = setInterval(() => void this.expireSessions(), SESSION_SWEEP_MS);
      this.#sweep.unref();

      this.#tcp = createNetServer((s) => this.#accept(s, s.remoteAddress, 'tcp'));
      this.#guardRate(this.#tcp);
      await listen(this.#tcp, o.tcp);
      const pair = o.tls.enabled || (o.ws.enabled && o.ws.tls) ? await this.#tlsPair() : undefined;
      if (o.tls.enabled) {
        // A TLS handshake gets no longer than a CONNECT (the guard's timer covers both).
        this.#tlsServer = createTlsServer({ ...pair!, handshakeTimeout: o.limits.connectTimeoutMs }, (s) => this.#accept(s, s.remoteAddress, 'tls'));
        this.#tlsServer.on('tlsClientError', (err) => this.#log.debug({ err: err.message }, 'tls handshake failed'));
        this.#guardRate(this.#tlsServer);
        await listen(this.#tlsServer, o.tls);
      }
      // ws.tls alone decides the WebSocket listener's scheme (it used to follow tls.enabled).
      if (o.ws.enabled) this.#wsHttp = o.ws.tls ? createHttpsServer(pair!) : createHttpServer();
      if (this.#wsHttp) {
        this.#guardRate(this.#wsHttp);
        // ws' maxPayload bounds one frame; the packet guard bounds the MQTT packet.
        this.#wss = new WebSocketServer({ server: this.#wsHttp, maxPayload: o.limits.maxPacketSize + 4096 });
        this.#wss.on('connection', (ws, req) => {
          const stream = createWebSocketStream(ws);
          this.#accept(stream, req.socket.remoteAddress, 'ws');
        });
        await listen(this.#wsHttp, o.ws);
      }
      this.#log.info({ id, addresses: this.addresses, sync: o.persistence.sync }, 'broker listening');
    } catch (err) {
      await this.stop().catch(() => {});
      throw new TillboxError(ErrorCode.BrokerStartFailed, `broker failed to start: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Removes persistent sessions unused for mqtt.limits.sessionExpiryHours (run hourly). */
  async expireSessions(now = Date.now()): Promise<string[]> {
    const p = this.#persistence;
    const aedes = this.#aedes;
    if (!p || !aedes) return [];
    try {
      const clients = (aedes as unknown as { clients: Record<string, unknown> }).clients;
      const gone = await p.expireSessions(this.#opts.limits.sessionExpiryHours * 3_600_000, (id) => id in clients, now);
      if (gone.length > 0) this.#log.info({ sessions: gone.length, clientIds: gone.slice(0, 10) }, 'expired unused persistent MQTT sessions');
      return gone;
    } catch (err) {
      this.#log.warn({ err }, 'session expiry sweep failed');
      return [];
    }
  }

  #droppedLogged = new Set<string>();

  #dropped(clientId: string, count: number): void {
    if (!this.#droppedLogged.has(clientId)) {
      if (this.#droppedLogged.size > 1000) this.#droppedLogged.clear();
      this.#droppedLogged.add(clientId);
      this.#log.warn({ clientId, count, limit: this.#opts.limits.offlineQueueMax }, "a client's queue is full: its oldest messages are dropped (logged once per client)");
    }
  }

  /** Messages dropped from clients' queues by the bounds, and sessions expired. */
  get queueStats(): { dropped: number; expiredSessions: number } {
    return { dropped: this.#persistence?.stats.dropped ?? 0, expiredSessions: this.#persistence?.stats.expiredSessions ?? 0 };
  }

  async stop(): Promise<void> {
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = undefined;
    const closeServer = (s: NetServer | HttpServer | undefined): Promise<void> => (s ? new Promise((r) => s.close(() => r())) : Promise.resolve());
    const servers = [closeServer(this.#tcp), closeServer(this.#tlsServer), closeServer(this.#wsHttp)];
    this.#wss?.close();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    const aedes = this.#aedes;
    if (aedes) await new Promise<void>((r) => aedes.close(() => r()));
    await Promise.all(servers);
    await this.#persistence?.destroy().catch((err: unknown) => this.#log.warn({ err }, 'closing broker store failed'));
    this.#aedes = undefined;
    this.#persistence = undefined;
    this.#tcp = this.#tlsServer = undefined;
    this.#wsHttp = undefined;
    this.#wss = undefined;
    this.#started = false;
  }

  /**
   * In-process publish for core (POS events after journal commit). Core is
   * trusted: no ACL. Resolves when aedes has queued the message for every
   * persistent subscriber (on disk per the sync policy).
   */
  publish(topic: string, payload: Buffer | string, opts: PublishOptions = {}): Promise<void> {
    const aedes = this.#aedes;
    if (!aedes) return Promise.reject(new TillboxError(ErrorCode.NotReady, 'broker not started'));
    const packet = {
      cmd: 'publish' as const,
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos: opts.qos ?? 1,
      retain: opts.retain ?? false,
      dup: false,
    };
    return new Promise((resolve, reject) => aedes.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  /** The broker store's failure counters, and whether it is reopening now. */
  get storeStatus(): { recovering: boolean; failedBatches: number; reopens: number } {
    const p = this.#persistence;
    return { recovering: p?.recovering ?? false, failedBatches: p?.stats.failedBatches ?? 0, reopens: p?.stats.reopens ?? 0 };
  }

  /** Resolves once every broker store write issued so far is on disk. */
  flushed(): Promise<void> {
    return this.#persistence?.flushed() ?? Promise.resolve();
  }

  // --- connections ---------------------------------------------------------------

  #guardRate(server: NetServer | HttpServer): void {
    const l = this.#opts.limits;
    // A backstop under the guard: Node closes sockets beyond this itself.
    server.maxConnections = l.maxPendingConnects + l.maxConnections + 64;
    // Counted on the raw TCP connection, before any TLS or HTTP work is done.
    server.on('connection', (socket: Socket) => {
      const addr = socket.remoteAddress ?? '?';
      if (!isLoopbackAddress(addr) && !this.#rate!.allow(addr)) {
        // local services reconnect in bursts after a restart: the rate limit is for the LAN
        this.#log.warn({ remoteAddress: addr }, 'connection rate limit exceeded; dropping');
        socket.destroy();
        return;
      }
      const key = connKey(socket);
      for (const e of this.#guard!.accept(key, addr)) {
        this.#refusedOnce(e.reason, addr);
        this.#rawSockets.get(e.key)?.destroy();
      }
      this.#rawSockets.set(key, socket);
      const timer = setTimeout(() => {
        if (!this.#guard!.isPending(key)) return;
        this.#refusedOnce(this.#guard!.timedOut(), addr);
        socket.destroy();
      }, l.connectTimeoutMs);
      timer.unref();
      socket.once('close', () => {
        clearTimeout(timer);
        this.#guard!.closed(key);
        this.#rawSockets.delete(key);
      });
    });
  }

  #refusedOnce(reason: Refusal, address: string): void {
    if (this.#guard!.firstFor(reason, address)) {
      this.#log.warn({ reason, remoteAddress: address, counts: this.#guard!.refusals }, 'connection refused by a limit (logged once per reason and address)');
    }
  }

  /** Refusal counters (sockets and clients turned away by the limits), for status and tests. */
  get refusals(): Readonly<Record<string, number>> {
    return { ...this.#guard?.refusals, ...this.#subRefusals };
  }

  readonly #subRefusals = { 'subscriptions-per-client': 0, 'filter-too-long': 0, 'filter-too-deep': 0, 'nul-in-topic': 0, 'protocol-name': 0 };

  #accept(stream: Duplex, remoteAddress: string | undefined, listener: ConnInfo['listener']): void {
    if (stream.destroyed) return;
    // Local MQTT is small request/response packets (a PUBLISH right after a
    // PUBACK): with Nagle on, each waited for the peer's delayed ACK, ~40 ms
    // per hop on sale -> kitchen ticket (measured, issue 14). TCP and TLS
    // sockets; the WebSocket listener's HTTP server already sets it.
    (stream as Partial<Socket>).setNoDelay?.(true);
    guardPacketSize(stream, this.#opts.limits.maxPacketSize);
    this.#conns.set(stream, { remoteAddress, listener, key: streamKey(stream, remoteAddress) });
    this.#sockets.add(stream);
    holdPubacks(stream);
    stream.on('error', (err) => {
      if (err.name === 'PacketTooLargeError') this.#log.warn({ remoteAddress, err: err.message }, 'oversized packet; connection closed');
    });
    stream.on('close', () => this.#sockets.delete(stream));
    this.#aedes!.handle(stream);
  }

  #info(client: Client): ConnInfo | undefined {
    return this.#conns.get(client.conn as object);
  }

  #preConnect(client: Client, packet: ConnectPacket, cb: (err: Error | null, ok: boolean) => void): void {
    const info = this.#info(client);
    this.#connects.set(client, { suppliedId: (packet as { clientId?: string }).clientId, clean: packet.clean !== false });
    // MQTT 3.1.1 §3.1.2.1 [MQTT-3.1.2-1]: level 4 is named "MQTT", level 3 (3.1) "MQIsdp"; a
    // mismatch is not MQTT at all, and the server may disconnect.
    const name = (packet as { protocolId?: string }).protocolId;
    const level = (packet as { protocolVersion?: number }).protocolVersion;
    if ((level === 4 && name !== 'MQTT') || (level === 3 && name !== 'MQIsdp')) {
      this.#subRefusals['protocol-name']++;
      this.#log.warn({ protocolId: name, protocolVersion: level, remoteAddress: info?.remoteAddress }, 'CONNECT with a protocol name that does not match its level; closed');
      cb(new Error('protocol name does not match the protocol level'), false);
      return;
    }
    const loopback = isLoopbackAddress(info?.remoteAddress);
    const { keepaliveMin, keepaliveMax } = this.#opts.limits;
    const ka = effectiveKeepalive(packet.keepalive ?? 0, loopback, keepaliveMin, keepaliveMax);
    if (ka !== packet.keepalive) {
      this.#log.debug({ requested: packet.keepalive, enforced: ka }, 'keepalive clamped');
      packet.keepalive = ka;
    }
    cb(null, true);
  }

  #authenticate(client: Client, username: Readonly<string> | undefined, password: Readonly<Buffer> | undefined, cb: (err: AuthenticateError | null, ok: boolean | null) => void): void {
    const info = this.#info(client);
    const connect = this.#connects.get(client);
    if (!this.#conformance.assignClientId(client as never, connect?.suppliedId, username || ANONYMOUS_PREFIX)) {
      cb(Object.assign(new Error('a zero-byte client id needs CleanSession 1'), { returnCode: 2 }) as AuthenticateError, false);
      return;
    }
    const d = decideConnect({ accounts: this.#accounts!, anonymousLoopback: this.#opts.anonymousLoopback }, info?.remoteAddress, client.id, username, password);
    if (!d.ok) {
      // Never log the password, and only the name the client offered.
      this.#log.warn({ clientId: client.id, username, remoteAddress: info?.remoteAddress, reason: d.reason }, 'connection refused');
      const err: AuthenticateError = Object.assign(new Error(d.reason), { returnCode: d.returnCode });
      cb(err, false);
      return;
    }
    const full = info ? this.#guard!.admit(info.key, d.identity.role) : undefined;
    if (full) {
      this.#refusedOnce(full, info?.remoteAddress ?? '?');
      // 3: server unavailable (§3.2.2.3); the box's own services are never refused for room.
      cb(Object.assign(new Error('the broker has no room for more clients'), { returnCode: 3 }) as AuthenticateError, false);
      return;
    }
    this.#identities.set(client, d.identity);
    if (info) {
      info.clientId = client.id;
      info.clean = connect?.clean ?? true;
    }
    this.#log.debug({ clientId: client.id, username, role: d.identity.role, listener: info?.listener }, 'client authenticated');
    cb(null, true);
  }

  #authorizePublish(client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void {
    const identity = client ? this.#identities.get(client) : undefined;
    if (packet.topic.includes('\u0000')) {
      // [MQTT-1.5.3-2]: a string with U+0000 MUST close the connection.
      this.#subRefusals['nul-in-topic']++;
      cb(new Error('topic contains U+0000'));
      return;
    }
    if (!identity || packet.topic.startsWith('$') || !this.#mayPublish(identity.role, packet.topic)) {
      this.#log.warn({ clientId: client?.id, role: identity?.role, topic: packet.topic }, 'publish denied');
      // MQTT 3.1.1 has no negative PUBACK; aedes closes the connection (§3.3.5 allows it).
      cb(new Error('publish not authorized'));
      return;
    }
    cb(null);
  }

  /**
   * mayPublish is a pure function of (role, store id, topic) and a constant
   * table; remembering recent answers saves re-expanding and re-matching
   * every ACL filter for every message of a busy topic. Bounded: cleared when
   * full.
   */
  #mayPublish(role: Role, topic: string): boolean {
    const key = `${role}\u0000${topic}`;
    let ok = this.#publishAcl.get(key);
    if (ok === undefined) {
      ok = mayPublish(role, this.#opts.storeId, topic);
      if (this.#publishAcl.size >= 1024) this.#publishAcl.clear();
      this.#publishAcl.set(key, ok);
    }
    return ok;
  }

  #authorizeSubscribe(client: Client | null, sub: AedesSubscription, cb: (err: Error | null, sub?: AedesSubscription | null) => void): void {
    const identity = client ? this.#identities.get(client) : undefined;
    const l = this.#opts.limits;
    const counts = this.#subRefusals as Record<string, number>;
    const deny = (why: string, detail: Record<string, unknown>): void => {
      if (why in counts) counts[why]! += 1;
      this.#log.warn({ clientId: client?.id, role: identity?.role, ...detail, reason: why }, 'subscribe denied');
      // Never persisted for a session, even when another filter of the same SUBSCRIBE is granted.
      markDenied(sub);
      cb(null, null); // SUBACK return code 0x80 (§3.9.3)
    };
    if (sub.topic.includes('\u0000')) {
      // [MQTT-1.5.3-2] / [MQTT-4.7.3-2]: U+0000 in a filter closes the connection.
      this.#subRefusals['nul-in-topic']++;
      markDenied(sub);
      cb(new Error('topic filter contains U+0000'));
      return;
    }
    if (Buffer.byteLength(sub.topic) > l.maxFilterLength) return deny('filter-too-long', { length: Buffer.byteLength(sub.topic), limit: l.maxFilterLength });
    if (sub.topic.split('/').length > l.maxTopicLevels) return deny('filter-too-deep', { levels: sub.topic.split('/').length, limit: l.maxTopicLevels });
    if (!identity || !maySubscribe(identity.role, this.#opts.storeId, sub.topic)) return deny('acl', { filter: sub.topic.slice(0, 200) });
    if (client) {
      let granted = this.#subs.get(client);
      if (!granted) {
        granted = new Set(Object.keys((client as unknown as { subscriptions?: Record<string, unknown> }).subscriptions ?? {}));
        this.#subs.set(client, granted);
      }
      if (!granted.has(sub.topic) && granted.size >= l.maxSubscriptionsPerClient) return deny('subscriptions-per-client', { limit: l.maxSubscriptionsPerClient });
      granted.add(sub.topic);
      this.#conformance.subscribed(client);
    }
    cb(null, sub);
  }

  // --- state ----------------------------------------------------------------------

  /**
   * Opens the broker store; if LevelDB reports damaged files (bit rot),
   * repairs them once (every readable session, subscription and queued
   * message is kept) rather than refusing to start, which would stop selling.
   */
  async #openStore(dir: string): Promise<BrokerDb> {
    const open = async (): Promise<BrokerDb> => {
      const db: BrokerDb = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
      try {
        await db.open();
        // Read everything once: a damaged block surfaces here, not at a client's CONNECT.
        for await (const _ of db.keys()) void _;
        return db;
      } catch (err) {
        await db.close().catch(() => undefined);
        throw err;
      }
    };
    try {
      return await open();
    } catch (err) {
      if (!isCorruptionError(err)) throw err;
      this.#log.error({ err }, 'broker store files are damaged; repairing (unreadable entries are dropped)');
      await repairDb(dir);
      return open();
    }
  }

  /**
   * aedes keys the offline queue by broker id then counter, and the counter
   * restarts at 0 every boot. A persisted boot number makes the id of each
   * boot sort after the previous one, so a reconnecting subscriber drains
   * messages from before a restart ahead of newer ones.
   */
  async #nextBrokerId(db: BrokerDb): Promise<string> {
    const prev = await db.get('meta:boot', { valueEncoding: 'buffer' });
    const boot = (prev ? Number(prev.toString('utf8')) : 0) + 1;
    await db.put('meta:boot', Buffer.from(String(boot)), { sync: true, valueEncoding: 'buffer' });
    return `${this.#opts.storeId}-b${String(boot).padStart(10, '0')}`;
  }

  /**
   * Re-reads the TLS pair (a renewed box certificate) into the running TLS
   * and wss listeners: new handshakes use it, established sessions stay.
   */
  async reloadTls(): Promise<void> {
    const wss = this.#opts.ws.tls ? (this.#wsHttp as unknown as { setSecureContext(o: object): void } | undefined) : undefined;
    if (!this.#tlsServer && !wss) return;
    const pair = await this.#tlsPair();
    this.#tlsServer?.setSecureContext(pair);
    wss?.setSecureContext(pair);
    this.#log.info('LAN TLS certificate reloaded');
  }

  async #tlsPair(): Promise<{ cert: string; key: string }> {
    const o = this.#opts.tls;
    if (o.certFile && o.keyFile) {
      return { cert: await readFile(o.certFile, 'utf8'), key: await readFile(o.keyFile, 'utf8') };
    }
    const identity = this.#opts.identity?.();
    if (identity) return identity;
    const dir = join(this.#opts.stateDir, 'tls');
    const certFile = join(dir, 'broker.crt');
    const keyFile = join(dir, 'broker.key');
    if (!existsSync(certFile) || !existsSync(keyFile)) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // Loaded only here: selfsigned pulls in an X.509 stack that costs about
      // half a second of start-up, and is needed once per box.
      const { generate: generateCert } = await import('selfsigned');
      const pems = await generateCert([{ name: 'commonName', value: `tillbox-${this.#opts.storeId}` }], {
        keyType: 'ec',
        curve: 'P-256',
        algorithm: 'sha256',
        notAfterDate: new Date(Date.now() + 10 * 365 * 86_400_000),
      });
      // Key first, 0600 from creation: the private key never exists world-readable.
      // Atomic and durable: a power cut in the first seconds must not leave an
      // empty key or certificate that every later start would take as made.
      await writeFileAtomic(keyFile, pems.private, { durability: 'durable', mode: 0o600 });
      await writeFileAtomic(certFile, pems.cert, { durability: 'durable', mode: 0o644 });
      this.#log.info({ certFile }, 'generated a self-signed TLS certificate for the broker');
    }
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  }
}

function listen(server: NetServer | HttpServer, a: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(a.port, a.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
