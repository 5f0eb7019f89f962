'use strict';
// Peripheral nodes over the device topics (contract/devices.ts):
//   tillbox weigh        the next reading from a scale's .../weight events
//   tillbox drawer       .../cmd/open (request/reply) on a cash drawer
//   tillbox device state retained birth/death on .../state, as it changes
const { localTopics, segment, deviceStateFilter } = require('./lib/contract.js');
const { attach, brokerOf } = require('./lib/status.js');

/** @param {Buffer} payload */
function json(payload) {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** @param {any} RED */
module.exports = function (RED) {
  /** @this {any} @param {any} config */
  function TillboxWeighNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const broker = brokerOf(RED, node, config);
    if (!broker) return;
    const timeoutMs = Math.max(1, Number(config.timeout) || 10) * 1000;
    const stableOnly = config.stable !== false;
    const maxAgeMs = Math.max(0, Number(config.maxAge) || 0) * 1000;
    let scale;
    try {
      scale = segment('scale', config.scale);
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: 'no scale id' });
      node.error(/** @type {Error} */ (err).message);
      return;
    }
    const detach = attach(node, broker);
    /** @type {{ reading: any, at: number } | undefined} */
    let last;
    /** @type {Array<(r: any) => void>} */
    let waiting = [];
    const unsubscribe = broker.connection.subscribe(localTopics.deviceEvent(broker.storeId, scale, 'weight'), (/** @type {string} */ _t, /** @type {Buffer} */ payload) => {
      const reading = json(payload);
      if (!reading || typeof reading !== 'object') return;
      if (stableOnly && reading.stable === false) return;
      last = { reading, at: Date.now() };
      const w = waiting;
      waiting = [];
      for (const resolve of w) resolve(reading);
    });

    node.on('input', async function (/** @type {any} */ msg, /** @type {(m: any) => void} */ send, /** @type {(e?: Error) => void} */ done) {
      try {
        let reading;
        if (maxAgeMs > 0 && last && Date.now() - last.at <= maxAgeMs) reading = last.reading;
        else {
          /** @type {(r: any) => void} */
          let resolveFn = () => {};
          reading = await new Promise((resolve, reject) => {
            resolveFn = resolve;
            waiting.push(resolve);
            setTimeout(() => {
              waiting = waiting.filter((w) => w !== resolveFn);
              reject(Object.assign(new Error(`no ${stableOnly ? 'stable ' : ''}reading from ${scale} within ${timeoutMs} ms`), { code: 'TBX_TIMEOUT' }));
            }, timeoutMs);
          });
        }
        msg.payload = reading;
        msg.peripheral = scale;
        send(msg);
        done();
      } catch (err) {
        done(/** @type {Error} */ (err));
      }
    });
    node.on('close', function (/** @type {boolean} */ removed, /** @type {() => void} */ done) {
      unsubscribe(removed);
      waiting = [];
      detach().then(
        () => done(),
        () => done(),
      );
    });
  }
  RED.nodes.registerType('tillbox weigh', TillboxWeighNode);

  /** @this {any} @param {any} config */
  function TillboxDrawerNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const broker = brokerOf(RED, node, config);
    if (!broker) return;
    const timeoutMs = Math.max(1, Number(config.timeout) || 10) * 1000;
    const detach = attach(node, broker);
    node.on('input', async function (/** @type {any} */ msg, /** @type {(m: any) => void} */ send, /** @type {(e?: Error) => void} */ done) {
      try {
        const drawer = segment('drawer', config.drawer || msg.drawer);
        /** @type {any} */
        const args = {};
        const pin = Number(config.pin || msg.pin || 0);
        if (pin === 2 || pin === 5) args.pin = pin;
        const reply = await broker.connection.request(drawer, 'open', args, timeoutMs);
        if (reply.status !== 'ok') throw Object.assign(new Error(`${drawer}: ${reply.error?.message ?? 'open refused'}`), { code: reply.error?.code });
        node.status({ fill: 'green', shape: 'dot', text: `${drawer}: ${reply.data?.drawer ?? 'pulsed'}` });
        msg.payload = reply.data;
        send(msg);
        done();
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: /** @type {Error} */ (err).message.slice(0, 40) });
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
  RED.nodes.registerType('tillbox drawer', TillboxDrawerNode);

  /** @this {any} @param {any} config */
  function TillboxDeviceStateNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const broker = brokerOf(RED, node, config);
    if (!broker) return;
    const id = config.peripheral || '+';
    let filter;
    try {
      filter = deviceStateFilter(broker.storeId, id);
    } catch (err) {
      node.error(/** @type {Error} */ (err).message);
      return;
    }
    const detach = attach(node, broker);
    /** @type {Map<string, string>} */
    const lastState = new Map();
    const unsubscribe = broker.connection.subscribe(filter, (/** @type {string} */ topic, /** @type {Buffer} */ payload, /** @type {any} */ packet) => {
      const peripheral = topic.split('/')[3] ?? '';
      if (payload.length === 0) {
        lastState.delete(peripheral);
        node.send({ topic, peripheral, payload: { id: peripheral, state: 'removed' }, retained: packet.retain === true });
        return;
      }
      const state = json(payload);
      if (!state || typeof state.state !== 'string') return;
      if (config.changesOnly !== false && lastState.get(peripheral) === state.state) return;
      lastState.set(peripheral, state.state);
      if (id !== '+') node.status({ fill: state.state === 'online' ? 'green' : 'red', shape: 'dot', text: state.state });
      node.send({ topic, peripheral, payload: state, retained: packet.retain === true });
    });
    node.on('close', function (/** @type {boolean} */ removed, /** @type {() => void} */ done) {
      unsubscribe(removed);
      detach().then(
        () => done(),
        () => done(),
      );
    });
  }
  RED.nodes.registerType('tillbox device state', TillboxDeviceStateNode);
};
