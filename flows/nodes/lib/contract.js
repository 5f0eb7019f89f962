'use strict';
// The tillbox MQTT contract for the nodes. Node-RED loads node files as
// CommonJS; Node 24 can require() the ES-module TypeScript sources of
// contract/ directly (require(esm) + type stripping work outside
// node_modules), so topics and the role table have one source of truth.

/** @type {typeof import('../../../contract/topics.ts')} */
const topics = require('../../../contract/topics.ts');
/** @type {typeof import('../../../contract/roles.ts')} */
const roles = require('../../../contract/roles.ts');

/** The role the flows process connects with. */
const ROLE = 'flows';

/** POS event types core publishes on store/{storeId}/pos/{type}. */
const POS_EVENT_TYPES = ['sale', 'refund', 'void', 'inventory.adjusted', 'price.overridden', 'drawer.opened'];

/**
 * Throws a clear error when the flows role may not publish `topic`. The broker
 * enforces the same table (and drops the connection on a violation, since
 * MQTT 3.1.1 has no negative PUBACK); checking first keeps one bad message
 * from disconnecting every node that shares the connection.
 * @param {string} storeId
 * @param {string} topic
 */
function assertMayPublish(storeId, topic) {
  if (!roles.mayPublish(ROLE, storeId, topic)) {
    const err = new Error(
      `the flows role may not publish ${topic} (contract/roles.ts): flows can send device commands and publish store/${storeId}/flows/# and store/${storeId}/cloud/#, never POS events`,
    );
    /** @type {any} */ (err).code = 'TBX_FORBIDDEN_TOPIC';
    throw err;
  }
}

/**
 * Topic segment check (ids, event names).
 * @param {string} kind
 * @param {unknown} value
 * @returns {string}
 */
function segment(kind, value) {
  if (typeof value !== 'string' || !topics.isValidId(value)) throw new Error(`invalid ${kind}: ${JSON.stringify(value)} (letters, digits, . _ -, max 64)`);
  return value;
}

/** @param {string} kind @param {string} value */
const segOrAny = (kind, value) => (value === '+' ? '+' : segment(kind, value));

// Subscription filters with '+' and the cloud lane topic. contract/topics.ts
// builds concrete topics only (and has no builder for store/{s}/cloud/...
// yet); these mirror its layout, with every segment validated the same way.
/** @param {string} storeId @param {string} type  '+' for all */
const posFilter = (storeId, type) => `store/${segment('storeId', storeId)}/pos/${segOrAny('event type', type)}`;
/** @param {string} storeId @param {string} peripheral @param {string} event */
const deviceFilter = (storeId, peripheral, event) => `store/${segment('storeId', storeId)}/devices/${segOrAny('peripheral id', peripheral)}/${segOrAny('event', event)}`;
/** @param {string} storeId @param {string} peripheral */
const deviceStateFilter = (storeId, peripheral) => `store/${segment('storeId', storeId)}/devices/${segOrAny('peripheral id', peripheral)}/state`;
/** @param {string} storeId @param {string} rest  already validated segments joined by '/' */
const cloudTopic = (storeId, rest) => `store/${segment('storeId', storeId)}/cloud/${rest}`;

module.exports = {
  posFilter,
  deviceFilter,
  deviceStateFilter,
  cloudTopic,
  topics,
  localTopics: topics.localTopics,
  topicMatches: topics.topicMatches,
  mayPublish: roles.mayPublish,
  assertMayPublish,
  segment,
  ROLE,
  POS_EVENT_TYPES,
};
