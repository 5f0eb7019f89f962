'use strict';
// `tillbox in`: POS events (after commit) or device events of this store.
//   pos:    store/{storeId}/pos/{type}           msg.payload = the event's payload (e.g. the sale),
//                                                msg.event = { id, seq, type, hlc, recordedAt, deviceId, storeId }
//   device: store/{storeId}/devices/{id}/{event} msg.payload = the device payload, msg.peripheral = id
// POS events are published at least once (core replays after a crash, the
// broker sends an unacknowledged event again after a reconnect), so the node
// drops an event id it has already handled. A POS event is acknowledged to the
// broker only once every node its message reached has finished (lineage.js):
// for a kitchen ticket, once the print request is durably queued. An event
// whose print request got no reply is forgotten here, so its next delivery runs
// the flow again (up to MAX_ATTEMPTS runs); other failures are acknowledged.
const { posFilter, deviceFilter, topics, POS_EVENT_TYPES } = require('./lib/contract.js');
const { attach, brokerOf } = require('./lib/status.js');
const { sendTracked } = require('./lib/lineage.js');

const SEEN_MAX = 2000;
/**
 * Runs of the flow for one event before it is acknowledged anyway: a printer
 * that stays unknown or a function node that always throws must not bring the
 * event back for ever. Each failed run is reported to catch nodes as usual.
 */
const MAX_ATTEMPTS = 5;

/** @param {any} RED */
module.exports = function (RED) {
  /** @this {any} @param {any} config */
  function TillboxInNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const broker = brokerOf(RED, node, config);
    if (!broker) return;
    const storeId = broker.storeId;
    const source = config.source === 'device' ? 'device' : 'pos';
    let filter;
    try {
      filter = source === 'pos' ? posFilter(storeId, config.eventType || '+') : deviceFilter(storeId, config.peripheral || '+', config.event || '+');
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: 'bad configuration' });
      node.error(/** @type {Error} */ (err).message);
      return;
    }
    /** @type {Map<string, Promise<void> | true>} event id -> its flow still running, or done */
    const seen = new Map();
    /** Failed runs of the flow per event id, while fewer than MAX_ATTEMPTS. */
    /** @type {Map<string, number>} */
    const failures = new Map();
    /** Rejects of the flows still running: a closing node leaves their events to be delivered again. */
    /** @type {Set<(err: Error) => void>} */
    const running = new Set();
    const detach = attach(node, broker);
    const unsubscribe = broker.connection.subscribe(filter, (/** @type {string} */ topic, /** @type {Buffer} */ payload, /** @type {any} */ packet) => {
      let body;
      try {
        body = JSON.parse(payload.toString('utf8'));
      } catch {
        node.warn(`tillbox in: ${topic} carried a payload that is not JSON; dropped`);
        return;
      }
      if (source === 'pos') {
        if (!body || typeof body !== 'object' || typeof body.id !== 'string') {
          node.warn(`tillbox in: ${topic} is not a journal event; dropped`);
          return;
        }
        const id = body.id;
        const known = seen.get(id);
        // Done: acknowledge the copy at once. Running: acknowledge it when the first is done.
        if (known === true) return;
        if (known) return known;
        const { payload: eventPayload, ...meta } = body;
        let settled = false;
        /** @type {Promise<void>} */
        const handled = new Promise((resolve, reject) => {
          running.add(reject);
          sendTracked(RED, node, { topic, payload: eventPayload, event: meta, storeId }, (err) => {
            settled = true;
            running.delete(reject);
            // Only a failure marked `redeliver` (tillbox print: the devices process did not answer) is worth
            // the event again. Any other error (an integrator's function that throws) would fail again on
            // every redelivery, and each redelivery renews the connection for every flow: it is the flow's
            // (catch node's) to handle, and the event is acknowledged.
            const retry = err && /** @type {any} */ (err).redeliver === true;
            const attempts = retry ? (failures.get(id) ?? 0) + 1 : 0;
            if (retry && attempts < MAX_ATTEMPTS) {
              // Delivered again after a reconnect (connection.js); the print request keeps its correlation.
              seen.delete(id);
              failures.set(id, attempts);
              if (failures.size > SEEN_MAX) failures.delete(failures.keys().next().value ?? '');
              reject(err);
            } else {
              if (retry) node.error(`tillbox in: the flow failed ${attempts} times on ${meta.type ?? 'event'} ${id} (last: ${err.message}); acknowledged without it`);
              failures.delete(id);
              seen.set(id, true);
              resolve();
            }
          });
        });
        if (settled) return handled; // at once (no wires)
        seen.set(id, handled);
        if (seen.size > SEEN_MAX) {
          for (const [k, v] of seen) {
            if (v !== true) continue;
            seen.delete(k);
            break;
          }
        }
        return handled;
      } else {
        // Device command traffic (cmd/...) is not an event.
        const t = topics.parseTopic('deviceEvent', topic);
        if (!t || t.event === 'cmd') return;
        node.send({ topic, payload: body, peripheral: t.peripheralId, event: t.event, storeId, retained: packet.retain === true });
      }
    });
    node.on('close', function (/** @type {boolean} */ removed, /** @type {() => void} */ done) {
      unsubscribe(removed);
      // A redeploy stops the flow under them: not acknowledged, so the broker sends them again.
      for (const reject of running) reject(new Error('tillbox in closed before its flow finished'));
      running.clear();
      detach().then(
        () => done(),
        () => done(),
      );
    });
  }
  RED.nodes.registerType('tillbox in', TillboxInNode);
  // The editor reads the POS event types from here (contract/pos.ts), so the list is never a copy.
  RED.httpAdmin.get('/tillbox/contract', RED.auth.needsPermission('flows.read'), (/** @type {any} */ _req, /** @type {any} */ res) => {
    res.json({ posEventTypes: POS_EVENT_TYPES });
  });
};
