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
const { EventEmitter } = require('node:events');
const { randomUUID, randomBytes } = require('node:crypto');
const mqtt = require('mqtt');
const { topicMatches, localTopics, assertMayPublish } = require('./contract.js');

/**
 * @typedef {object} BrokerOptions
 * @property {string} url            mqtt://127.0.0.1:1883
 * @property {string} [username]     'flows'
 * @property {string} [password]
 * @property {string} [clientId]     must be `flows` or start with `flows-`
 * @property {number} [backoffBaseMs]
 * @property {number} [backoffMaxMs]
 */

/**
 * @typedef {'disconnected'|'connecting'|'connected'} ConnState
 * @typedef {(topic: string, payload: Buffer, packet: any) => void} Handler
 */

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
    /** @type {Map<string, { resolve: (v: any) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>} */
    this.pending = new Map();
    /** @type {import('mqtt').MqttClient | undefined} */
    this.client = undefined;
    this.attempt = 0;
    /** @type {NodeJS.Timeout | undefined} */
    this.retryTimer = undefined;
    this.closing = false;
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
      clientId: o.clientId ?? `flows-${randomBytes(6).toString('hex')}`,
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      // Reconnects are ours: exponential backoff with full jitter, not a fixed period.
      reconnectPeriod: 0,
      resubscribe: false,
    });
    this.client = client;
    client.on('connect', () => {
      // Requests go out right after a PUBACK: with Nagle on, each waited for the
      // broker's delayed ACK (~40 ms; mqtt.js makes a new socket per connect).
      /** @type {any} */ (client.stream)?.setNoDelay?.(true);
      this.attempt = 0;
      // (Re)subscribe everything we route (clean session), and only then report
      // 'connected': a node that shows connected does not miss what follows.
      const filters = [...this.subs.keys()];
      if (filters.length === 0) return this.setState('connected');
      client.subscribe(filters, { qos: 1 }, (err, granted) => {
        if (err) return this.opts.log?.warn(`tillbox broker: subscribe failed: ${err.message}`);
        for (const g of granted ?? []) if (g.qos === 128) this.opts.log?.warn(`tillbox broker: the broker refused the subscription ${g.topic}`);
        if (client.connected) this.setState('connected');
      });
    });
    client.on('message', (topic, payload, packet) => this.route(topic, payload, packet));
    client.on('error', (err) => this.opts.log?.warn(`tillbox broker: ${err.message}`));
    client.on('close', () => {
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
   * @param {string} topic
   * @param {Buffer} payload
   * @param {any} packet
   */
  route(topic, payload, packet) {
    for (const [filter, handlers] of this.subs) {
      if (!topicMatches(filter, topic)) continue;
      for (const h of handlers) {
        // One failing handler must not starve the others (STYLE item 6).
        try {
          h(topic, payload, packet);
        } catch (err) {
          this.opts.log?.warn(`tillbox broker: handler for ${filter} failed: ${/** @type {Error} */ (err).message}`);
        }
      }
    }
  }

  /**
   * @param {string} filter
   * @param {Handler} handler
   * @returns {() => void} unsubscribe
   */
  subscribe(filter, handler) {
    let set = this.subs.get(filter);
    if (!set) {
      set = new Set();
      this.subs.set(filter, set);
      if (this.client?.connected) this.client.subscribe(filter, { qos: 1 });
    }
    set.add(handler);
    return () => {
      const s = this.subs.get(filter);
      if (!s) return;
      s.delete(handler);
      if (s.size === 0) {
        this.subs.delete(filter);
        if (this.client?.connected) this.client.unsubscribe(filter);
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
   * on timeout.
   * @param {string} peripheralId
   * @param {string} command
   * @param {unknown} args
   * @param {number} timeoutMs
   * @returns {Promise<{ status: 'ok'|'error', correlation: string, data?: any, error?: { code: string, message: string } }>}
   */
  async request(peripheralId, command, args, timeoutMs) {
    const topic = localTopics.deviceCommand(this.storeId, peripheralId, command);
    const replyTo = localTopics.deviceCommandReply(this.storeId, peripheralId, command);
    const correlation = `flows-${randomUUID()}`;
    this.ensureReplySubscription(replyTo);
    const reply = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlation);
        reject(Object.assign(new Error(`no reply from ${peripheralId} to ${command} within ${timeoutMs} ms (is the devices process running and the peripheral known?)`), { code: 'TBX_TIMEOUT' }));
      }, timeoutMs);
      this.pending.set(correlation, { resolve, reject, timer });
    });
    try {
      await this.publish(topic, JSON.stringify({ correlation, replyTo, args }), { qos: 1 });
    } catch (err) {
      const p = this.pending.get(correlation);
      if (p) clearTimeout(p.timer);
      this.pending.delete(correlation);
      throw err;
    }
    return /** @type {any} */ (await reply);
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
    clearTimeout(this.retryTimer);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error('tillbox broker connection closed'));
      this.pending.delete(id);
    }
    this.replyTopics.clear();
    this.subs.clear();
    const client = this.client;
    this.client = undefined;
    this.setState('disconnected');
    if (!client) return Promise.resolve();
    return new Promise((resolve) => client.end(false, {}, () => resolve()));
  }
}

module.exports = { TillboxConnection };
