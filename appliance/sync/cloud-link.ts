import { readFileSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import mqtt, { type IClientOptions, type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from '../log.ts';
import type { Backoff } from '../../lib/backoff.ts';
import { SyncError, SyncErrorCode } from './errors.ts';

// One logical connection to the cloud broker, made of short-lived mqtt.js
// clients: every attempt is a fresh client with automatic reconnect off, and
// the link schedules the next attempt itself with exponential backoff and
// full jitter. A clean session each time: nothing relies on the broker
// keeping our session or our in-flight messages.
//
// MQTT 5 first; a broker that answers "unsupported protocol version" (3.1.1
// return code 1 / MQTT 5 reason 0x84) is retried at once with 3.1.1 and the
// link stays on 3.1.1 until restarted.

export type ProtocolSetting = 'auto' | '5' | '3.1.1';

export interface CloudLinkOptions {
  url: string;
  clientId: string;
  protocol: ProtocolSetting;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  /**
   * TLS material read at every attempt when no files are given: the box's
   * enrolled identity (provisioning/), so a rotated certificate is used by
   * the next connection.
   */
  tls?:
    | (() =>
        | { cert?: string | undefined; key?: string | undefined; ca?: string | string[] | undefined; checkServerIdentity?: ((host: string, cert: PeerCertificate) => Error | undefined) | undefined }
        | undefined)
    | undefined;
  username?: string | undefined;
  password?: string | undefined;
  keepaliveSec: number;
  connectTimeoutMs: number;
  /** The last will; a function is asked at every attempt (the will names the session: FleetStatus.bdSeq). */
  will: { topic: string; payload: string } | (() => { topic: string; payload: string });
  /** Subscribed (QoS 1) on every connect before onUp runs. */
  subscriptions: string[];
  backoff: Backoff;
  log: Logger;
  onUp: (info: { protocolVersion: 4 | 5 }) => void;
  onDown: (reason: string) => void;
  onMessage: (topic: string, payload: Buffer, packet: IPublishPacket) => void;
}

export interface LinkStatus {
  connected: boolean;
  protocolVersion: 4 | 5 | null;
  attempts: number;
  connects: number;
  lastError: { code: string; message: string; at: string } | null;
  connectedSince: string | null;
  nextAttemptInMs: number | null;
}

export class CloudLink {
  readonly #o: CloudLinkOptions;
  #client: MqttClient | undefined;
  #up = false;
  #stopped = true;
  #version: 4 | 5;
  #retryTimer: NodeJS.Timeout | undefined;
  #nextAttemptAt: number | null = null;
  #attempts = 0;
  #connects = 0;
  #lastError: LinkStatus['lastError'] = null;
  #connectedSince: string | null = null;
  #immediate = false;

  constructor(options: CloudLinkOptions) {
    this.#o = options;
    this.#version = options.protocol === '3.1.1' ? 4 : 5;
  }

  get connected(): boolean {
    return this.#up;
  }

  status(): LinkStatus {
    return {
      connected: this.#up,
      protocolVersion: this.#up ? this.#version : null,
      attempts: this.#attempts,
      connects: this.#connects,
      lastError: this.#lastError,
      connectedSince: this.#connectedSince,
      nextAttemptInMs: this.#nextAttemptAt === null ? null : Math.max(0, this.#nextAttemptAt - Date.now()),
    };
  }

  start(): void {
    this.#stopped = false;
    this.#attempt();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const client = this.#client;
    this.#client = undefined;
    if (this.#up) {
      this.#up = false;
      this.#o.onDown('stopped');
    }
    if (client) {
      // A clean DISCONNECT: the broker does not publish the last will, so
      // publish `offline` ourselves first (the caller does, through publish()).
      await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    }
  }

  /** QoS 1 publish on the current connection; resolves on PUBACK. */
  publish(topic: string, payload: string | Buffer, opts: Omit<IClientPublishOptions, 'qos'> & { qos?: 0 | 1 } = {}): Promise<void> {
    const client = this.#client;
    if (!client || !this.#up) return Promise.reject(new SyncError(SyncErrorCode.Connect, 'not connected to the cloud broker'));
    const options: IClientPublishOptions = { qos: 1, ...opts };
    if (this.#version !== 5) delete options.properties;
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, options, (err) => (err ? reject(new SyncError(SyncErrorCode.Connect, 'publish failed', { cause: err })) : resolve()));
    });
  }

  /**
   * Drops the connection and connects again at once (after a certificate
   * rotation). Unacked publishes fail and the sync lane resends them; HQ
   * applies each event once.
   */
  reconnect(reason: string): void {
    if (this.#stopped) return;
    this.#o.log.info({ reason }, 'cloud link reconnecting');
    if (this.#retryTimer) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#attempt();
      return;
    }
    this.#immediate = true;
    this.#client?.end(true);
  }

  get protocolVersion(): 4 | 5 {
    return this.#version;
  }

  #options(): IClientOptions {
    const o = this.#o;
    const opts: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: this.#version,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      keepalive: o.keepaliveSec,
      resubscribe: false,
      will: (() => {
        const w = typeof o.will === 'function' ? o.will() : o.will;
        return { topic: w.topic, payload: Buffer.from(w.payload), qos: 1 as const, retain: true };
      })(),
    };
    if (this.#version === 5) opts.properties = { sessionExpiryInterval: 0 };
    if (o.username !== undefined) opts.username = o.username;
    if (o.password !== undefined) opts.password = o.password;
    // Read the files at each attempt, so a renewed certificate is picked up.
    if (o.caFile) opts.ca = readFileSync(o.caFile);
    if (o.certFile) opts.cert = readFileSync(o.certFile);
    if (o.keyFile) opts.key = readFileSync(o.keyFile);
    const m = o.tls?.();
    if (m?.ca && !opts.ca) {
      opts.ca = m.ca;
      // mqtt.js hands unknown options through to tls.connect.
      if (m.checkServerIdentity) (opts as IClientOptions & { checkServerIdentity?: unknown }).checkServerIdentity = m.checkServerIdentity;
    }
    if (m?.cert && m.key && !opts.cert) {
      opts.cert = m.cert;
      opts.key = m.key;
    }
    return opts;
  }

  #attempt(): void {
    this.#retryTimer = undefined;
    this.#nextAttemptAt = null;
    if (this.#stopped) return;
    this.#attempts += 1;
    let client: MqttClient;
    try {
      client = mqtt.connect(this.#o.url, this.#options());
    } catch (err) {
      this.#fail(SyncErrorCode.Connect, (err as Error).message);
      this.#schedule(false);
      return;
    }
    this.#client = client;
    // Small QoS 1 packets (PUBACKs, single-sale live batches) must not wait
    // for Nagle + delayed ACK (~40 ms each on Linux).
    setNoDelay(client);
    let connacked = false;
    let fallback = false;
    let closed = false;
    client.on('connect', () => {
      connacked = true;
      void this.#onConnect(client);
    });
    client.on('message', (topic, payload, packet) => {
      if (client !== this.#client) return;
      try {
        this.#o.onMessage(topic, payload, packet);
      } catch (err) {
        this.#o.log.error({ err, topic }, 'cloud message handler threw');
      }
    });
    client.on('error', (err: Error & { code?: number | string }) => {
      const code = err.code;
      if (!connacked && this.#version === 5 && this.#o.protocol === 'auto' && (code === 1 || code === 132)) {
        fallback = true;
        this.#fail(SyncErrorCode.ProtocolVersion, 'broker does not speak MQTT 5; falling back to 3.1.1');
        return;
      }
      if (code === 4 || code === 5 || code === 134 || code === 135) {
        this.#fail(SyncErrorCode.NotAuthorized, err.message);
        return;
      }
      this.#fail(SyncErrorCode.Connect, err.message);
    });
    client.on('close', () => {
      if (closed) return;
      closed = true;
      if (client !== this.#client) return;
      const wasUp = this.#up;
      this.#up = false;
      this.#connectedSince = null;
      client.end(true);
      if (wasUp) this.#o.onDown('connection closed');
      if (fallback) this.#version = 4;
      const now = fallback || this.#immediate;
      this.#immediate = false;
      this.#schedule(now);
    });
  }

  async #onConnect(client: MqttClient): Promise<void> {
    if (client !== this.#client) return;
    try {
      if (this.#o.subscriptions.length > 0) {
        const granted = await client.subscribeAsync(this.#o.subscriptions, { qos: 1 });
        const refused = granted.filter((g) => g.qos !== 0 && g.qos !== 1 && g.qos !== 2);
        if (refused.length > 0) throw new SyncError(SyncErrorCode.NotAuthorized, `subscription refused: ${refused.map((g) => g.topic).join(', ')}`);
      }
    } catch (err) {
      this.#fail(isNotAuthorized(err) ? SyncErrorCode.NotAuthorized : SyncErrorCode.Connect, (err as Error).message);
      client.end(true);
      return;
    }
    if (client !== this.#client || this.#stopped) return;
    this.#up = true;
    this.#connects += 1;
    this.#connectedSince = new Date().toISOString();
    this.#o.backoff.reset();
    this.#o.log.info({ url: redactUrl(this.#o.url), protocolVersion: this.#version }, 'connected to the cloud broker');
    this.#o.onUp({ protocolVersion: this.#version });
  }

  #fail(code: SyncErrorCode, message: string): void {
    this.#lastError = { code, message, at: new Date().toISOString() };
    this.#o.log.debug({ code, message }, 'cloud link error');
  }

  #schedule(immediately: boolean): void {
    if (this.#stopped || this.#retryTimer) return;
    const delay = immediately ? 0 : this.#o.backoff.next();
    this.#nextAttemptAt = Date.now() + delay;
    this.#o.log.debug({ delayMs: delay, attempt: this.#o.backoff.attempt }, 'cloud link reconnect scheduled');
    this.#retryTimer = setTimeout(() => this.#attempt(), delay);
  }
}

/** TCP_NODELAY on the client's socket (TCP or TLS), when it has one. */
export function setNoDelay(client: MqttClient): void {
  const stream = client.stream as unknown as { setNoDelay?: (on: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}

function isNotAuthorized(err: unknown): boolean {
  return err instanceof SyncError && err.code === SyncErrorCode.NotAuthorized;
}

/** The broker URL without credentials, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '[unparsable url]';
  }
}
