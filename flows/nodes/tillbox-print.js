'use strict';
// `tillbox print`: a receipt, kitchen ticket, label or raw job to a named
// printer, as a `cmd/print` request (contract/devices/printer.ts PrintArgs)
// with a correlation id; waits for the devices process's reply (the job is
// durably queued — printing itself is reported on .../printed). For a
// message from a POS event the correlation is derived from the event id, so a
// redelivered event does not print twice (correlationOf).
const { segment } = require('./lib/contract.js');
const { attach, brokerOf } = require('./lib/status.js');
const { textJob } = require('./lib/escpos-text.js');
const { requireBoxModule } = require('./lib/box-module.js');
/** @type {typeof import('../../lib/validate.ts')} */
const { compileSchema } = requireBoxModule('lib/validate');
/** @type {typeof import('../../contract/devices/printer.ts')} */
const printerContract = requireBoxModule('contract/devices/printer');

const validateArgs = compileSchema(printerContract.PrintArgs);
const KINDS = ['receipt', 'kitchen', 'label', 'raw'];

/**
 * Kitchen ticket from msg.payload: a ticket already, or a sale (payload of a
 * `tillbox in` sale event) turned into one.
 * @param {any} msg
 */
function kitchenTicket(msg) {
  const p = msg.payload;
  if (p && typeof p === 'object' && typeof p.order === 'string') return p;
  if (p && typeof p === 'object' && Array.isArray(p.lines)) {
    const order = String(msg.order ?? (msg.event && typeof msg.event.seq === 'number' ? `#${msg.event.seq}` : '#'));
    /** @type {any} */
    const ticket = {
      order: order.slice(0, 16),
      lines: p.lines.map((/** @type {any} */ l) => ({ name: String(l.name ?? l.sku).slice(0, 80), qty: Number.isInteger(l.qty) ? l.qty : 1, ...(l.group ? { group: String(l.group) } : {}) })),
    };
    if (msg.station) ticket.station = String(msg.station).slice(0, 40);
    if (msg.event && typeof msg.event.recordedAt === 'string') ticket.at = msg.event.recordedAt.slice(0, 40);
    if (typeof msg.note === 'string') ticket.note = msg.note.slice(0, 200);
    return ticket;
  }
  throw new Error('kitchen ticket: msg.payload must be a ticket { order, lines: [{ name, qty }] } or a sale');
}

/**
 * @param {string} kind
 * @param {any} msg
 */
function printArgs(kind, msg) {
  switch (kind) {
    case 'receipt': {
      const saleId = msg.payload?.saleId ?? msg.saleId ?? msg.event?.id;
      if (typeof saleId !== 'string') throw new Error('receipt: give the sale id as msg.payload.saleId or msg.saleId, or wire a tillbox in (sale) node');
      return { saleId, ...(msg.reprint ? { reprint: true } : {}), ...(msg.kickDrawer ? { kickDrawer: true } : {}) };
    }
    case 'kitchen':
      return { ticket: kitchenTicket(msg) };
    case 'label': {
      const p = msg.payload;
      const lines = typeof p === 'string' ? p.split('\n') : Array.isArray(p?.lines) ? p.lines.map(String) : undefined;
      if (!lines) throw new Error('label: msg.payload must be text or { title?, lines: [...] }');
      return { raw: textJob(lines, { title: p?.title }).toString('base64') };
    }
    case 'raw': {
      const p = msg.payload;
      if (Buffer.isBuffer(p)) return { raw: p.toString('base64') };
      if (typeof p === 'string') return { raw: p };
      throw new Error('raw: msg.payload must be a Buffer of ESC/POS bytes or a base64 string');
    }
    default:
      throw new Error(`unknown print kind ${kind}`);
  }
}

/**
 * The print request's correlation for a message that comes from a POS event:
 * the same for every delivery of that event, so the devices process's print
 * queue (one job per correlation) prints it once however often the event is
 * delivered (a redelivery after a crash, restart or redeploy of flows). One
 * job per event, printer and kind; other messages get a fresh one.
 * @param {any} msg
 * @param {string} printer
 * @param {string} kind
 * @returns {string | undefined}
 */
function correlationOf(msg, printer, kind) {
  const id = msg.event?.id;
  if (typeof id !== 'string' || id === '' || id.length > 64) return undefined;
  return `flows:${id}:${printer}:${kind}`;
}

/** @param {any} RED */
module.exports = function (RED) {
  /** @this {any} @param {any} config */
  function TillboxPrintNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const broker = brokerOf(RED, node, config);
    if (!broker) return;
    const kind = KINDS.includes(config.kind) ? config.kind : 'receipt';
    const timeoutMs = Math.max(1, Number(config.timeout) || 10) * 1000;
    const detach = attach(node, broker);

    node.on('input', async function (/** @type {any} */ msg, /** @type {(m: any) => void} */ send, /** @type {(e?: Error) => void} */ done) {
      try {
        const printer = segment('printer', config.printer || msg.printer);
        const k = config.kind === 'msg' && KINDS.includes(msg.kind) ? msg.kind : kind;
        const args = printArgs(k, msg);
        if (!validateArgs(args)) {
          throw new Error(`print ${k}: ${validateArgs.errors?.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ')}`);
        }
        node.status({ fill: 'blue', shape: 'dot', text: `printing on ${printer}` });
        let reply;
        try {
          reply = await broker.connection.request(printer, 'print', args, timeoutMs, { correlation: correlationOf(msg, printer, k) });
        } catch (err) {
          // The devices process did not answer (down, restarting): the only failure worth the event again (tillbox in).
          /** @type {any} */ (err).redeliver = true;
          throw err;
        }
        if (reply.status !== 'ok') {
          const err = new Error(`${printer}: ${reply.error?.message ?? 'print refused'}`);
          /** @type {any} */ (err).code = reply.error?.code;
          throw err;
        }
        node.status({ fill: 'green', shape: 'dot', text: `queued on ${printer}` });
        msg.print = { printer, kind: k, correlation: reply.correlation };
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
  RED.nodes.registerType('tillbox print', TillboxPrintNode);
};
module.exports.printArgs = printArgs;
module.exports.correlationOf = correlationOf;
