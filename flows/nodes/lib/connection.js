'use strict';
const { requireBoxModule } = require('./box-module.js');
/** @type {typeof import('../../../lib/backoff.ts')} */
const { backoffDelay } = requireBoxModule('lib/backoff');
// One MQTT connection to core's broker, owned by a `tillbox-broker` config
// node (the core mqtt-broker node's pattern): in/out nodes register with it,
// it connects when the first registers and ends when the last leaves, routes
// incoming messages to the subscribers whose filter matches, and carries the
// request/reply envelope of device commands (contract/devices.ts: aedes speaks
// MQTT 3.1.1, so replyTo and correlation travel in the payload).
//
// Delivery of POS events (a kitchen ticket for every sale, even across a
// restart, a kill -9 or a redeploy of flows):
//  - A persistent session (clean: false) under one stable client id, so the
//    broker keeps the subscriptions and queues QoS 1 events (on disk) while
//    flows is down, restarting or redeploying, and sends them again when it
//    is back (bounded by mqtt.limits.offlineQueueMax / sessionExpiryHours).
//  - PUBACK only once every handler is done with a message (a handler may
//    return a promise: `tillbox in` resolves it when its flow finished, see
//    lineage.js). Not by holding mqtt.js's callback: mqtt.js handles incoming
//    packets one at a time, so a held PUBACK would also hold the reply of the
//    print request the flow is waiting for. The PUBACK is sent later, on the
//    connection the message came on; after a reconnect the broker sends the
//    message again instead.
//  - Nothing is routed before Node-RED reports the flows started (setStarted):
//    a message sent into a half-built flow graph is dropped by Node-RED. Until
//    then messages are held, unacknowledged.
//  - A message whose handler rejects is not acknowledged; the connection is
//    renewed after a backoff so the broker sends it again (deterministic print
//    correlations make that safe). `tillbox in` rejects only when a print
//    request got no reply (the devices process down); other flow errors are
//    acknowledged (tillbox-in.js).
const { EventEmitter } = require('node:events');
const { randomUUID } = require('node:crypto');
const mqtt = require('mqtt');
const { topicMatches, localTopics, assertMayPublish } = require('./contract.js');

/** Passed to mqtt.js's handleMessage callback: no automatic PUBACK (we send it when the handlers are done). */
const DEFERRED = Object.assign(new Error('PUBACK deferred to the tillbox handlers'), { code: 'TBX_ACK_DEFERRED' });

/**
 * @typedef {object} BrokerOptions
 * @property {string} url            mqtt://127.0.0.1:1883
 * @property {string} [username]     'flows'
 * @property {string} [password]
 * @property {string} [clientId]     must be `flows` or start with `flows-`; stable (the persistent session is keyed by it)
 * @property {number} [backoffBaseMs]
 * @property {number} [backoffMaxMs]
 * @property {number} [redeliverBaseMs]  first wait before asking for a failed message again
 * @property {number} [redeliverMaxMs]
 */

/**
 * @typedef {'disconnected'|'connecting'|'connected'} ConnState
 * @typedef {(topic: string, payload: Buffer, packet: any) => void | Promise<unknown>} Handler
 *   A returned promise holds the message's PUBACK until it resolves; a rejection leaves it unacknowledged.
 */

/** The client id when the settings give none: one per box, so the broker finds the session again. */
const DEFAULT_CLIENT_ID = (/** @type {string | undefined} */ username) => `${username ?? 'flows'}-nodered`;
/** Messages held before the flows started (beyond this, the newest are left unacknowledged for the broker to send again). */
const HELD_MAX = 5000;

class TillboxConnection extends EventEmitter {
  /**
   * @param {BrokerOptions & { storeId: string, log?: { warn(m: string): void, debug?(m: string): void } }} opts
   */
  constructor(opts) {
    super();
    this.opts = opts;
    this.storeId = opts.storeId;
    /** @type {ConnState} */
    this.state = 'disconnected';
    /** @type {Set<object>} */
    this.users = new Set();
    /** @type {Map<string, Set<Handler>>} filter -> handlers */
    this.subs = new Map();
    /** @type {Map<string, { resolve: (v: any) => void, reject: (e: Error) => void, timer: NodeJS.Timeout, promise: Promise<any> }>} */
    this.pending = new Map();
    /** @type {import('mqtt').MqttClient | undefined} */
    this.client = undefined;
    this.attempt = 0;
    /** @type {NodeJS.Timeout | undefined} */
    this.retryTimer = undefined;
    this.closing = false;
    /** Node-RED reported the flows started: messages may be routed. */
    this.started = false;
    /** @type {Array<{ topic: string, payload: Buffer, packet: any, ack: () => void }>} routed once started */
    this.held = [];
    /** @type {Map<string, Promise<unknown>>} filter -> its SUBACK, for subscriptions made while connected */
    this.subAcks = new Map();
    /** Bumped on every connect: a PUBACK belongs to the connection its message came on. */
    this.generation = 0;
    /** @type {NodeJS.Timeout | undefined} */
    this.redeliverTimer = undefined;
    this.redeliverAttempt = 0;
    /** Messages acknowledged / left unacknowledged after a handler failed (for status and tests). */
    this.stats = { acked: 0, failed: 0, held: 0 };
  }

  /**
   * Node-RED started (true) or is stopping (false) the flows. Held messages
   * are routed once started.
   * @param {boolean} started
   */
  setStarted(started) {
    this.started = started;
    if (!started) return;
    const held = this.held;
    this.held = [];
    for (const m of held) this.dispatch(m.topic, m.payload, m.packet, m.ack);
  }

  /** @param {object} node */
  register(node) {
    this.users.add(node);
    if (this.users.size === 1) this.connect();
  }

  /**
   * @param {object} node
   * @returns {Promise<void>}
   */
  deregister(node) {
    this.users.delete(node);
    if (this.users.size === 0) return this.close();
    return Promise.resolve();
  }

  connect() {
    if (this.client) return;
    this.closing = false;
    const o = this.opts;
    this.setState('connecting');
    const client = mqtt.connect(o.url, {
      username: o.username,
      password: o.password,
      clientId: o.clientId ?? DEFAULT_CLIENT_ID(o.username),
      protocolVersion: 4,
      // Persistent: the broker queues POS events while flows is away (see the header).
      clean: false,
      keepalive: 30,
      connectTimeout: 10_000,
      // Reconnects are ours: exponential backoff with full jitter, not a fixed period.
      reconnectPeriod: 0,
      resubscribe: false,
    });
    this.client = client;
    // Acknowledged by us, when the handlers are done (see the header): mqtt.js
    // sends no PUBACK when this callback gets an error, and goes on with the
    // next packet at once.
    client.handleMessage = (packet, callback) => {
      const ack = packet.qos > 0 ? this.acker(client, packet.messageId) : () => {};
      this.receive(packet.topic, packet.payload, packet, ack);
      callback(packet.qos > 0 ? DEFERRED : undefined);
    };
    client.on('connect', () => {
      this.generation++;
      // Requests go out right after a PUBACK: with Nagle on, each waited for the
      // broker's delayed ACK (~40 ms; mqtt.js makes a new socket per connect).
      /** @type {any} */ (client.stream)?.setNoDelay?.(true);
      this.attempt = 0;
      // (Re)subscribe everything we route (the session may be new or expired), and only then report
      // 'connected': a node that shows connected does not miss what follows.
      const filters = [...this.subs.keys()];
      if (filters.length === 0) return this.setState('connected');
      client.subscribe(Object.fromEntries(filters.map((f) => [f, { qos: this.qosOf(f) }])), (err, granted) => {
        if (err) return this.opts.log?.warn(`tillbox broker: subscribe failed: ${err.message}`);
        for (const g of granted ?? []) if (g.qos === 128) this.opts.log?.warn(`tillbox broker: the broker refused the subscription ${g.topic}`);
        if (client.connected) this.setState('connected');
      });
    });
    client.on('error', (err) => this.opts.log?.warn(`tillbox broker: ${err.message}`));
    client.on('close', () => {
      // Their PUBACKs could only go on this connection: the broker sends them again on the next.
      this.held = [];
      if (this.closing) return;
      this.setState('connecting');
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    clearTimeout(this.retryTimer);
    const delay = backoffDelay(this.attempt++, { baseMs: this.opts.backoffBaseMs ?? 250, maxMs: this.opts.backoffMaxMs ?? 15_000 });
    this.retryTimer = setTimeout(() => {
      if (!this.closing && this.client && !this.client.connected) this.client.reconnect();
    }, delay);
  }

  /** @param {ConnState} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  /**
   * The PUBACK of one message, sent at most once and only on the connection
   * it came on (after a reconnect the broker delivers it again).
   * @param {import('mqtt').MqttClient} client
   * @param {number} messageId
   * @returns {() => void}
   */
  acker(client, messageId) {
    const generation = this.generation;
    let sent = false;
    return () => {
      if (sent) return;
      sent = true;
      if (this.client !== client || this.generation !== generation || !client.connected) return;
      this.stats.acked++;
      // mqtt.js has no public call for a PUBACK of its own; _sendPacket is what its publish handler uses.
      /** @type {any} */ (client)._sendPacket({ cmd: 'puback', messageId });
    };
  }

  /**
   * @param {string} topic
   * @param {Buffer} payload
   * @param {any} packet
   * @param {() => void} ack
   */
  receive(topic, payload, packet, ack) {
    // Command replies go to a waiting request, not into the flow graph: never held.
    if (this.started || this.replyTopics.has(topic)) return this.dispatch(topic, payload, packet, ack);
    // A half-built flow graph would drop it: keep it, unacknowledged, until the flows started.
    if (this.held.length >= HELD_MAX) return;
    this.held.push({ topic, payload, packet, ack });
    this.stats.held++;
  }

  /**
   * Hands a message to every handler whose filter matches, and acknowledges
   * it once all of them are done (at once when none wants it).
   * @param {string} topic
   * @param {Buffer} payload
   * @param {any} packet
   * @param {() => void} ack
   */
  dispatch(topic, payload, packet, ack) {
    /** @type {Array<Promise<unknown>>} */
    const waits = [];
    for (const [filter, handlers] of this.subs) {
      if (!topicMatches(filter, topic)) continue;
      for (const h of handlers) {
        // One failing handler must not starve the others (STYLE item 6).
        try {
          const r = h(topic, payload, packet);
          if (r && typeof (/** @type {any} */ (r).then) === 'function') waits.push(/** @type {Promise<unknown>} */ (r));
        } catch (err) {
          this.opts.log?.warn(`tillbox broker: handler for ${filter} failed: ${/** @type {Error} */ (err).message}`);
        }
      }
    }
    if (waits.length === 0) return ack();
    Promise.all(waits).then(
      () => {
        this.redeliverAttempt = 0;
        ack();
      },
      (err) => {
        this.stats.failed++;
        this.opts.log?.warn(`tillbox broker: ${topic} not acknowledged (${/** @type {Error} */ (err)?.message ?? err}); the broker will send it again`);
        this.requestRedelivery();
      },
    );
  }

  /**
   * The broker sends unacknowledged messages again only on a new connection
   * (MQTT 3.1.1 §4.4): renew it after a backoff, once for all failures meanwhile.
   */
  requestRedelivery() {
    if (this.redeliverTimer || this.closing) return;
    const delay = backoffDelay(this.redeliverAttempt++, { baseMs: this.opts.redeliverBaseMs ?? 1000, maxMs: this.opts.redeliverMaxMs ?? 60_000 });
    this.redeliverTimer = setTimeout(() => {
      this.redeliverTimer = undefined;
      const client = this.client;
      if (this.closing || !client?.connected) return; // a reconnect is coming anyway
      this.opts.log?.debug?.('tillbox broker: reconnecting so the broker sends unacknowledged messages again');
      /** @type {any} */ (client).stream?.destroy();
    }, delay);
  }

  /**
   * QoS of a subscription: 1 for POS events, which the broker queues for the
   * persistent session while flows is away; 0 for the rest (device events,
   * states, command replies), so a chatty scale cannot fill that queue (the
   * broker drops the oldest beyond mqtt.limits.offlineQueueMax) and push
   * sales out. Retained states come again on every subscribe anyway.
   * @param {string} filter
   * @returns {0 | 1}
   */
  qosOf(filter) {
    return filter.startsWith(`store/${this.storeId}/pos/`) ? 1 : 0;
  }

  /**
   * @param {string} filter
   * @param {Handler} handler
   * @returns {(removed?: boolean) => void} unsubscribe; the broker forgets the
   *   subscription only when `removed` (the node was deleted): a node that is
   *   restarted or stopping keeps its events queued in the session.
   */
  subscribe(filter, handler) {
    let set = this.subs.get(filter);
    if (!set) {
      set = new Set();
      this.subs.set(filter, set);
      const client = this.client;
      if (client?.connected) {
        // Awaited by a request before it publishes (the reply must not come before the subscription).
        this.subAcks.set(filter, new Promise((resolve) => client.subscribe(filter, { qos: this.qosOf(filter) }, () => resolve(undefined))));
      }
    }
    set.add(handler);
    return (removed = false) => {
      const s = this.subs.get(filter);
      if (!s) return;
      s.delete(handler);
      if (s.size === 0) {
        this.subs.delete(filter);
        this.subAcks.delete(filter);
        if (removed && this.client?.connected) this.client.unsubscribe(filter);
      }
    };
  }

  /**
   * Publishes (QoS 1 by default) and resolves on PUBACK. Refuses topics the
   * flows role may not publish before they reach the broker.
   * @param {string} topic
   * @param {string | Buffer} payload
   * @param {{ qos?: 0 | 1, retain?: boolean }} [opts]
   * @returns {Promise<void>}
   */
  publish(topic, payload, opts = {}) {
    try {
      assertMayPublish(this.storeId, topic);
    } catch (err) {
      return Promise.reject(err);
    }
    const client = this.client;
    if (!client?.connected) return Promise.reject(Object.assign(new Error('not connected to the tillbox broker'), { code: 'TBX_NOT_CONNECTED' }));
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * A device command: publishes `{ correlation, replyTo, args }` on
   * .../devices/{peripheralId}/cmd/{command} and resolves with the reply
   * envelope `{ status, correlation, data?, error? }` (any status), or rejects
   * on timeout. `opts.correlation` makes a retried request recognisable to the
   * devices process (the print queue keeps one job per correlation); a
   * request with the correlation of one still waiting shares its reply.
   * @param {string} peripheralId
   * @param {string} command
   * @param {unknown} args
   * @param {number} timeoutMs
   * @param {{ correlation?: string }} [opts]
   * @returns {Promise<{ status: 'ok'|'error', correlation: string, data?: any, error?: { code: string, message: string } }>}
   */
  async request(peripheralId, command, args, timeoutMs, opts = {}) {
    const topic = localTopics.deviceCommand(this.storeId, peripheralId, command);
    const replyTo = localTopics.deviceCommandReply(this.storeId, peripheralId, command);
    const correlation = opts.correlation ?? `flows-${randomUUID()}`;
    const waiting = this.pending.get(correlation);
    if (waiting) return /** @type {any} */ (await waiting.promise);
    this.ensureReplySubscription(replyTo);
    // A persistent session stores a subscription before the SUBACK: a reply sent meanwhile would be missed.
    await this.subAcks.get(replyTo);
    /** @type {any} */
    const entry = {};
    entry.promise = new Promise((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
      entry.timer = setTimeout(() => {
        this.pending.delete(correlation);
        reject(Object.assign(new Error(`no reply from ${peripheralId} to ${command} within ${timeoutMs} ms (is the devices process running and the peripheral known?)`), { code: 'TBX_TIMEOUT' }));
      }, timeoutMs);
    });
    // Rejected by close() or a timeout possibly while the publish below is still pending: never unhandled.
    entry.promise.catch(() => {});
    this.pending.set(correlation, entry);
    try {
      await this.publish(topic, JSON.stringify({ correlation, replyTo, args }), { qos: 1 });
    } catch (err) {
      clearTimeout(entry.timer);
      if (this.pending.get(correlation) === entry) this.pending.delete(correlation);
      entry.reject(err);
      throw err;
    }
    return /** @type {any} */ (await entry.promise);
  }

  /** @type {Set<string>} */
  get replyTopics() {
    this._replyTopics ??= new Set();
    return this._replyTopics;
  }

  /** @param {string} replyTo */
  ensureReplySubscription(replyTo) {
    if (this.replyTopics.has(replyTo)) return;
    this.replyTopics.add(replyTo);
    this.subscribe(replyTo, (_topic, payload) => {
      let msg;
      try {
        msg = JSON.parse(payload.toString('utf8'));
      } catch {
        return;
      }
      const p = msg && typeof msg.correlation === 'string' ? this.pending.get(msg.correlation) : undefined;
      if (!p) return; // another requester's reply on the shared reply topic
      clearTimeout(p.timer);
      this.pending.delete(msg.correlation);
      p.resolve(msg);
    });
  }

  /** @returns {Promise<void>} */
  close() {
    this.closing = true;
    this.started = false;
    // Held messages stay unacknowledged: the broker sends them again on the next connection.
    this.held = [];
    clearTimeout(this.retryTimer);
    clearTimeout(this.redeliverTimer);
    this.redeliverTimer = undefined;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error('tillbox broker connection closed'));
      this.pending.delete(id);
    }
    this.replyTopics.clear();
    this.subs.clear();
    this.subAcks.clear();
    const client = this.client;
    this.client = undefined;
    this.setState('disconnected');
    if (!client) return Promise.resolve();
    return new Promise((resolve) => client.end(false, {}, () => resolve()));
  }
}

module.exports = { TillboxConnection };
