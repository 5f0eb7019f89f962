'use strict';
// `tillbox in`: POS events (after commit) or device events of this store.
//   pos:    store/{storeId}/pos/{type}           msg.payload = the event's payload (e.g. the sale),
//                                                msg.event = { id, seq, type, hlc, recordedAt, deviceId, storeId }
//   device: store/{storeId}/devices/{id}/{event} msg.payload = the device payload, msg.peripheral = id
// POS events are published at least once (core replays after a crash), so the
// node drops an event id it has already sent.
const { posFilter, deviceFilter, topics, POS_EVENT_TYPES } = require('./lib/contract.js');
const { attach, brokerOf } = require('./lib/status.js');

const SEEN_MAX = 2000;

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
    /** @type {Set<string>} */
    const seen = new Set();
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
        if (seen.has(body.id)) return;
        seen.add(body.id);
        if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
        const { payload: eventPayload, ...meta } = body;
        node.send({ topic, payload: eventPayload, event: meta, storeId });
      } else {
        // Device command traffic (cmd/...) is not an event.
        const t = topics.parseTopic('deviceEvent', topic);
        if (!t || t.event === 'cmd') return;
        node.send({ topic, payload: body, peripheral: t.peripheralId, event: t.event, storeId, retained: packet.retain === true });
      }
    });
    node.on('close', function (/** @type {boolean} */ _removed, /** @type {() => void} */ done) {
      unsubscribe();
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
