'use strict';
// When has a flow "handled" a message? Node-RED has no answer of its own: a
// message fans out through wires, function nodes make new messages, and each
// node says it is finished with done(). `tillbox in` needs the answer to
// acknowledge a POS event to the broker (PUBACK) only after the flow is done
// with it — for a kitchen ticket, after `tillbox print` heard the devices
// process confirm the job is durably queued.
//
// Node-RED keeps a message's _msgid across wires and through function nodes
// (10-function.js sets it on every message a function returns), so the
// lineage of one event is every delivery of its _msgid. With the runtime's
// message hooks this module counts them: a delivery (preDeliver) opens one,
// the receiving node's done() (onComplete) closes it. Nodes whose input
// handler takes no done() (legacy, two arguments) are finished when their
// handler returned (postReceive). Every send a node makes while handling a
// message happens before its done(), and Node-RED routes sends synchronously
// up to preDeliver, so the count only reaches zero when nothing of the
// lineage is left.
//
// Honest limits: a node that sends later, after its done() (a function node
// with a timer that never calls node.done()), is not waited for, nor are the
// nodes behind a link out (link nodes hand messages over outside the send
// path, so no preDeliver: not verified beyond reading the runtime); a node that
// takes done() and never calls it keeps its lineage open (the event then stays
// unacknowledged and comes again on the next connection; see connection.js).

/** @typedef {{ outstanding: Map<string, number>, failed: Error | undefined, settle: (err?: Error) => void, settled: boolean }} Lineage */

/** @type {WeakMap<object, Map<string, Lineage>>} per Node-RED hooks registry */
const registries = new WeakMap();

/** Lineages kept at most (a node that never calls done() must not grow this for ever). */
const MAX_OPEN = 5000;

/**
 * The runtime's hook registry: RED.hooks in the flows process; the same
 * module-level registry of @node-red/util where the node API lacks it
 * (node-red-node-test-helper builds its own).
 * @param {any} RED
 */
function hooksOf(RED) {
  return RED.hooks ?? require('@node-red/util').hooks;
}

/** @param {any} RED */
function lineagesOf(RED) {
  const hooks = hooksOf(RED);
  let open = registries.get(hooks);
  if (open) return open;
  const lineages = /** @type {Map<string, Lineage>} */ (new Map());
  open = lineages;
  registries.set(hooks, open);
  /** @param {string} id @param {string} nodeId @param {Error | undefined} err */
  const close = (id, nodeId, err) => {
    const l = lineages.get(id);
    if (!l) return;
    const n = l.outstanding.get(nodeId);
    // A delivery not counted here (a catch node gets its message directly): nothing to close.
    if (n === undefined) return;
    if (n <= 1) l.outstanding.delete(nodeId);
    else l.outstanding.set(nodeId, n - 1);
    if (err && !l.failed) l.failed = err instanceof Error ? err : new Error(String(err));
    if (l.outstanding.size === 0) finish(lineages, id, l);
  };
  hooks.add('preDeliver.tillbox-lineage', (/** @type {any} */ ev) => {
    const id = ev.msg?._msgid;
    const l = id === undefined ? undefined : lineages.get(id);
    if (!l) return;
    const nodeId = ev.destination.id;
    l.outstanding.set(nodeId, (l.outstanding.get(nodeId) ?? 0) + 1);
  });
  hooks.add('postReceive.tillbox-lineage', (/** @type {any} */ ev) => {
    const node = ev.destination?.node;
    // Legacy handler (no done argument): finished once it returned.
    if (node && node._expectedDoneCount === 0) close(ev.msg?._msgid, ev.destination.id, undefined);
  });
  hooks.add('onComplete.tillbox-lineage', (/** @type {any} */ ev) => {
    close(ev.msg?._msgid, ev.node.id, ev.error);
  });
  return open;
}

/**
 * @param {Map<string, Lineage>} lineages
 * @param {string} id
 * @param {Lineage} l
 */
function finish(lineages, id, l) {
  lineages.delete(id);
  if (l.settled) return;
  l.settled = true;
  l.settle(l.failed);
}

/**
 * Sends `msg` from `node` and calls `settle(err?)` once every node its
 * lineage reached has finished (err: the first done(err) of the lineage).
 * Called at once when the message went nowhere (no wires).
 * @param {any} RED
 * @param {any} node
 * @param {any} msg
 * @param {(err?: Error) => void} settle
 */
function sendTracked(RED, node, msg, settle) {
  const lineages = lineagesOf(RED);
  const id = RED.util.generateId();
  msg._msgid = id;
  /** @type {Lineage} */
  const l = { outstanding: new Map(), failed: undefined, settle, settled: false };
  lineages.set(id, l);
  if (lineages.size > MAX_OPEN) {
    // The oldest never finished: forget it (its event stays unacknowledged).
    const oldest = lineages.keys().next().value;
    if (oldest !== undefined) lineages.delete(oldest);
  }
  try {
    node.send(msg);
  } catch (err) {
    l.failed = /** @type {Error} */ (err);
  }
  if (l.outstanding.size === 0) finish(lineages, id, l);
}

module.exports = { sendTracked };
