'use strict';
// `tillbox-broker` config node: owns the one MQTT connection to core's broker.
// The URL and the flows-role credentials are not node properties: the flows
// process passes them in its Node-RED settings (`tillbox.broker`), so they
// never appear in the editor, the flows file or an export.
const { TillboxConnection } = require('./lib/connection.js');

/** @param {any} RED */
module.exports = function (RED) {
  /** @this {any} @param {any} config */
  function TillboxBrokerNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    /** @type {{ broker?: { url: string, username?: string, password?: string, clientId?: string }, storeId?: string } | undefined} */
    const settings = RED.settings.tillbox;
    if (!settings?.broker || !settings.storeId) {
      node.error('tillbox: the flows process did not pass broker settings (settings.tillbox); tillbox nodes stay disconnected');
      node.connection = undefined;
      return;
    }
    node.storeId = settings.storeId;
    node.connection = new TillboxConnection({
      ...settings.broker,
      storeId: settings.storeId,
      log: { warn: (m) => node.warn(m) },
    });
    // Messages are routed only into a complete flow graph (connection.js header).
    const onStarted = () => node.connection.setStarted(true);
    const onStopping = () => node.connection.setStarted(false);
    RED.events.on('flows:started', onStarted);
    RED.events.on('flows:stopping', onStopping);
    node.on('close', function (/** @type {boolean} */ _removed, /** @type {() => void} */ done) {
      RED.events.off('flows:started', onStarted);
      RED.events.off('flows:stopping', onStopping);
      node.connection.close().then(
        () => done(),
        () => done(),
      );
    });
  }
  RED.nodes.registerType('tillbox-broker', TillboxBrokerNode);
};
