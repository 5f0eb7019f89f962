'use strict';
// `tillbox cloud out`: publishes to store/{storeId}/cloud/{subtopic} (QoS 1).
// Core's cloud bridge forwards the mapped topics (config cloud.mapped, e.g.
// local `store/{storeId}/cloud/#`) through its bounded store-and-forward lane,
// so an alert sent while offline reaches HQ when the link returns.
const { cloudTopic, segment } = require('./lib/contract.js');
const { attach, brokerOf } = require('./lib/status.js');

/** @param {string} sub */
function subtopic(sub) {
  const parts = String(sub ?? '')
    .split('/')
    .filter((p) => p !== '');
  if (parts.length === 0 || parts.length > 8) throw new Error('cloud out: give a subtopic such as alerts/low-stock (node property or msg.topic)');
  return parts.map((p) => segment('subtopic segment', p)).join('/');
}

/** @param {any} RED */
module.exports = function (RED) {
  /** @this {any} @param {any} config */
  function TillboxCloudOutNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const broker = brokerOf(RED, node, config);
    if (!broker) return;
    const detach = attach(node, broker);
    node.on('input', async function (/** @type {any} */ msg, /** @type {(m: any) => void} */ send, /** @type {(e?: Error) => void} */ done) {
      try {
        const topic = cloudTopic(broker.storeId, subtopic(config.topic || msg.topic));
        const body = Buffer.isBuffer(msg.payload) ? msg.payload : typeof msg.payload === 'string' ? msg.payload : JSON.stringify(msg.payload ?? null);
        await broker.connection.publish(topic, body, { qos: 1 });
        msg.topic = topic;
        send(msg);
        done();
      } catch (err) {
        done(/** @type {Error} */ (err));
      }
    });
    node.on('close', function (/** @type {boolean} */ _removed, /** @type {() => void} */ done) {
      detach().then(
        () => done(),
        () => done(),
      );
    });
  }
  RED.nodes.registerType('tillbox cloud out', TillboxCloudOutNode);
};
module.exports.subtopic = subtopic;
