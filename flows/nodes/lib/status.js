'use strict';
// Node status from the connection state, the way the core mqtt nodes show it.

/** @param {'disconnected'|'connecting'|'connected'} state */
function connectionStatus(state) {
  switch (state) {
    case 'connected':
      return { fill: 'green', shape: 'dot', text: 'connected' };
    case 'connecting':
      return { fill: 'yellow', shape: 'ring', text: 'connecting' };
    default:
      return { fill: 'red', shape: 'ring', text: 'disconnected' };
  }
}

/**
 * Registers `node` with its broker config node, mirrors the connection state
 * in its status, and returns a cleanup that deregisters it.
 * @param {any} node
 * @param {any} broker   the tillbox-broker config node
 * @returns {() => Promise<void>}
 */
function attach(node, broker) {
  const conn = broker.connection;
  const onState = (/** @type {any} */ s) => node.status(connectionStatus(s));
  conn.on('state', onState);
  conn.register(node);
  node.status(connectionStatus(conn.state));
  return () => {
    conn.off('state', onState);
    return conn.deregister(node);
  };
}

/**
 * The broker config node of `node`, or an error status and undefined.
 * @param {any} RED
 * @param {any} node
 * @param {any} config
 */
function brokerOf(RED, node, config) {
  const broker = RED.nodes.getNode(config.broker);
  if (!broker?.connection) {
    node.status({ fill: 'red', shape: 'ring', text: 'no tillbox broker' });
    node.error('tillbox: this node needs a tillbox broker configuration node');
    return undefined;
  }
  return broker;
}

module.exports = { connectionStatus, attach, brokerOf };
