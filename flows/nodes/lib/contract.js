'use strict';
// The tillbox MQTT contract for the nodes. Node-RED loads node files as
// CommonJS; Node 24 can require() the ES-module TypeScript sources of
// contract/ directly (require(esm) + type stripping work outside
// node_modules), so topics and the role table have one source of truth.
// On the image the same modules are compiled JavaScript (box-module.js).
const { requireBoxModule } = require('./box-module.js');

/** @type {typeof import('../../../contract/topics.ts')} */
const topics = requireBoxModule('contract/topics');
/** @type {typeof import('../../../contract/roles.ts')} */
const roles = requireBoxModule('contract/roles');

/** The role the flows process connects with. */
const ROLE = 'flows';

/** @type {typeof import('../../../contract/pos.ts')} */
const pos = requireBoxModule('contract/pos');
/** POS event types core publishes on store/{storeId}/pos/{type} (contract/pos.ts). */
const POS_EVENT_TYPES = pos.POS_EVENT_TYPES;

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

// Filters and the cloud lane topic, from contract/topics.ts's template table
// ('+' in a parameter means any; each other segment is validated there).
/** @param {string} storeId @param {string} type  '+' for all */
const posFilter = (storeId, type) => topics.topicFilter('posEvent', { storeId: segment('storeId', storeId), eventType: segOrAny('event type', type) });
/** @param {string} storeId @param {string} peripheral @param {string} event */
const deviceFilter = (storeId, peripheral, event) =>
  topics.topicFilter('deviceEvent', { storeId: segment('storeId', storeId), peripheralId: segOrAny('peripheral id', peripheral), event: segOrAny('event', event) });
/** @param {string} storeId @param {string} peripheral */
const deviceStateFilter = (storeId, peripheral) => topics.topicFilter('deviceState', { storeId: segment('storeId', storeId), peripheralId: segOrAny('peripheral id', peripheral) });
/** @param {string} storeId @param {string} rest  segments joined by '/' */
const cloudTopic = (storeId, rest) => topics.buildTopic('cloudOut', { storeId: segment('storeId', storeId), rest });

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
