import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { postSale } from '../harness/box.ts';
import { roleClient, startCore, startPrintResponder, until, SALE, type CoreBox } from '../test/flows/support.ts';

// The tillbox nodes in node-red-node-test-helper (a flow JSON loaded into a
// real Node-RED runtime), connected to the real broker of a real core running
// in a child process, with the flows role's generated credentials.

const require = createRequire(import.meta.url);
const helper = require('node-red-node-test-helper') as {
  init(path: string, settings?: object): void;
  settings(s: object): object;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  load(nodes: unknown[], flow: object[], creds?: object): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): any;
};
const NODES = ['tillbox-broker', 'tillbox-in', 'tillbox-print', 'tillbox-devices', 'tillbox-cloud'].map((n) => require(`./nodes/${n}.js`));

let core: CoreBox;
let watcher: MqttClient;
const seen: Array<{ topic: string; payload: string }> = [];

beforeAll(async () => {
  core = await startCore();
  helper.init(require.resolve('node-red'));
  const flows = core.account('flows');
  helper.settings({
    tillbox: { storeId: core.storeId, broker: { url: `mqtt://127.0.0.1:${core.mqttPort}`, username: flows.username, password: flows.password } },
    logging: { console: { level: 'off' } },
  });
  await helper.startServer();
  watcher = await roleClient(core, 'admin');
  watcher.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
  await watcher.subscribeAsync(`store/${core.storeId}/#`, { qos: 1 });
}, 60_000);

afterEach(async () => {
  await helper.unload();
});

afterAll(async () => {
  await watcher?.endAsync();
  await helper.stopServer();
  await core?.stop();
});

const broker = { id: 'b1', type: 'tillbox-broker', name: 'this box' };
const connected = (id: string) => until(() => helper.getNode(id)?.connection?.state === 'connected' || undefined, `${id} connected`);

/** Resolves with the next message a helper node receives. */
const nextMessage = (id: string) => new Promise<any>((resolve) => helper.getNode(id).once('input', resolve));

describe('tillbox in', () => {
  it('delivers a committed sale once, with its journal metadata, even when core republishes it', async () => {
    await helper.load(NODES, [broker, { id: 'in', type: 'tillbox in', broker: 'b1', source: 'pos', eventType: 'sale', wires: [['out']] }, { id: 'out', type: 'helper' }]);
    await connected('b1');
    const got: any[] = [];
    helper.getNode('out').on('input', (m: any) => got.push(m));
    // Subscription is in place once connected and SUBACKed; a sale proves it end to end.
    const first = nextMessage('out');
    const r = await postSale(core.httpPort, `nodes-${Date.now()}`, SALE([{ sku: 'MILK-1L', qty: 2 }]));
    expect(r.status).toBe(201);
    const sale = r.json<{ id: string; seq: number }>();
    const msg = await first;
    expect(msg.event.id).toBe(sale.id);
    expect(msg.event.seq).toBe(sale.seq);
    expect(msg.payload.lines[0].sku).toBe('MILK-1L');
    expect(msg.topic).toBe(`store/${core.storeId}/pos/sale`);

    // At-least-once replay after a core crash looks like this: the same event again.
    const coreClient = await roleClient(core, 'core');
    const original = seen.find((s) => s.topic.endsWith('/pos/sale') && s.payload.includes(sale.id))!;
    await coreClient.publishAsync(original.topic, original.payload, { qos: 1 });
    const r2 = await postSale(core.httpPort, `nodes-${Date.now()}-2`, SALE([{ sku: 'EGGS-10', qty: 1 }]));
    const second = r2.json<{ id: string }>();
    await until(() => got.some((m) => m.event.id === second.id) || undefined, 'second sale');
    await coreClient.endAsync();
    expect(got.map((m) => m.event.id)).toEqual([sale.id, second.id]);
  }, 30_000);

  it('passes device events of one peripheral and ignores command traffic', async () => {
    await helper.load(NODES, [broker, { id: 'in', type: 'tillbox in', broker: 'b1', source: 'device', peripheral: 'scanner-1', event: '+', wires: [['out']] }, { id: 'out', type: 'helper' }]);
    await connected('b1');
    const devices = await roleClient(core, 'devices');
    const next = nextMessage('out');
    await devices.publishAsync(`store/${core.storeId}/devices/scanner-1/scan`, JSON.stringify({ data: '4001230001078' }), { qos: 1 });
    const msg = await next;
    await devices.endAsync();
    expect(msg.peripheral).toBe('scanner-1');
    expect(msg.event).toBe('scan');
    expect(msg.payload.data).toBe('4001230001078');
  }, 30_000);
});

describe('tillbox print', () => {
  it('sends a kitchen ticket as a cmd/print envelope with a correlation id and passes on the reply', async () => {
    const responder = await startPrintResponder(core, { kitchen: null });
    try {
      await helper.load(NODES, [broker, { id: 'p', type: 'tillbox print', broker: 'b1', printer: 'kitchen', kind: 'kitchen', timeout: 10, wires: [['out']] }, { id: 'out', type: 'helper' }]);
      await connected('b1');
      const next = nextMessage('out');
      helper.getNode('p').receive({ payload: { order: 'T12', lines: [{ name: 'Espresso', qty: 2 }] } });
      const msg = await next;
      expect(msg.payload).toEqual({ jobId: 'job-1', position: 0, duplicate: false });
      expect(msg.print.printer).toBe('kitchen');
      const req = responder.seen[0]!;
      expect(req.correlation).toBe(msg.print.correlation);
      expect(req.correlation).toMatch(/^flows-/);
      expect(req.args).toEqual({ ticket: { order: 'T12', lines: [{ name: 'Espresso', qty: 2 }] } });
    } finally {
      await responder.stop();
    }
  }, 30_000);

  it('turns a sale from tillbox in into a ticket, and reports a refused job and a bad ticket to a catch node', async () => {
    const responder = await startPrintResponder(core, { bar: null });
    try {
      await helper.load(NODES, [
        broker,
        { id: 'p', type: 'tillbox print', broker: 'b1', printer: '', kind: 'kitchen', timeout: 10, wires: [['out']] },
        { id: 'c', type: 'catch', scope: ['p'], uncaught: false, wires: [['caught']] },
        { id: 'out', type: 'helper' },
        { id: 'caught', type: 'helper' },
      ]);
      await connected('b1');
      const ok = nextMessage('out');
      helper.getNode('p').receive({ printer: 'bar', payload: { lines: [{ sku: 'OJ-1L', name: 'Orange juice 1 l', qty: 3 }] }, event: { seq: 7, recordedAt: '2026-01-01T10:00:00Z' } });
      await ok;
      expect(responder.seen[0]!.args.ticket).toEqual({ order: '#7', at: '2026-01-01T10:00:00Z', lines: [{ name: 'Orange juice 1 l', qty: 3 }] });

      const refused = nextMessage('caught');
      helper.getNode('p').receive({ printer: 'nowhere', payload: { order: '1', lines: [{ name: 'x', qty: 1 }] } });
      expect((await refused).error.message).toMatch(/no printer nowhere/);

      const before = responder.seen.length;
      const invalid = nextMessage('caught');
      helper.getNode('p').receive({ printer: 'bar', payload: { order: '1', lines: [] } });
      expect((await invalid).error.message).toMatch(/print kitchen: .*lines/);
      expect(responder.seen.length).toBe(before); // nothing published for an invalid ticket
    } finally {
      await responder.stop();
    }
  }, 30_000);

  it('fails with a clear error when no devices process answers', async () => {
    await helper.load(NODES, [
      broker,
      { id: 'p', type: 'tillbox print', broker: 'b1', printer: 'ghost', kind: 'label', timeout: 1, wires: [[]] },
      { id: 'c', type: 'catch', scope: ['p'], uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ]);
    await connected('b1');
    const caught = nextMessage('caught');
    helper.getNode('p').receive({ payload: 'hello' });
    expect((await caught).error.message).toMatch(/no reply from ghost to print/);
  }, 30_000);
});

describe('least privilege through the nodes', () => {
  it('refuses a POS topic before it reaches the broker, and the shared connection stays up', async () => {
    await helper.load(NODES, [broker, { id: 'c', type: 'tillbox cloud out', broker: 'b1', topic: 'alerts/test', wires: [['out']] }, { id: 'out', type: 'helper' }]);
    await connected('b1');
    const conn = helper.getNode('b1').connection;
    await expect(conn.publish(`store/${core.storeId}/pos/sale`, '{}')).rejects.toMatchObject({ code: 'TBX_FORBIDDEN_TOPIC' });
    expect(conn.state).toBe('connected');
    // cloud out still works on the same connection
    const next = nextMessage('out');
    helper.getNode('c').receive({ payload: { sku: 'MILK-1L', level: 3 } });
    const msg = await next;
    expect(msg.topic).toBe(`store/${core.storeId}/cloud/alerts/test`);
    await until(() => seen.find((s) => s.topic === msg.topic), 'cloud message on the broker');
  }, 30_000);
});

describe('peripheral nodes', () => {
  it('tillbox weigh answers with the next stable reading', async () => {
    await helper.load(NODES, [broker, { id: 'w', type: 'tillbox weigh', broker: 'b1', scale: 'scale-1', stable: true, maxAge: 0, timeout: 10, wires: [['out']] }, { id: 'out', type: 'helper' }]);
    await connected('b1');
    const devices = await roleClient(core, 'devices');
    // The weigh node subscribed on connect; an unrelated round trip through the broker orders us after its SUBACK.
    await until(() => helper.getNode('b1').connection.client?.connected || undefined, 'client');
    const next = nextMessage('out');
    helper.getNode('w').receive({});
    const topic = `store/${core.storeId}/devices/scale-1/weight`;
    await devices.publishAsync(topic, JSON.stringify({ grams: 480, stable: false }), { qos: 1 });
    await devices.publishAsync(topic, JSON.stringify({ grams: 500, stable: true }), { qos: 1 });
    const msg = await next;
    await devices.endAsync();
    expect(msg.payload).toEqual({ grams: 500, stable: true });
  }, 30_000);

  it('tillbox drawer sends cmd/open and tillbox device state follows the retained state', async () => {
    const devices = await roleClient(core, 'devices');
    devices.on('message', (_topic, payload) => {
      const req = JSON.parse(payload.toString());
      devices.publish(req.replyTo, JSON.stringify({ status: 'ok', correlation: req.correlation, data: { pulsed: true, drawer: 'open' } }), { qos: 1 });
    });
    await devices.subscribeAsync(`store/${core.storeId}/devices/drawer-1/cmd/open`, { qos: 1 });
    const stateTopic = `store/${core.storeId}/devices/printer-9/state`;
    await devices.publishAsync(stateTopic, JSON.stringify({ id: 'printer-9', kind: 'printer', state: 'online', uri: 'tcp://127.0.0.1:9100', since: new Date().toISOString() }), {
      qos: 1,
      retain: true,
    });
    try {
      await helper.load(NODES, [
        broker,
        { id: 'd', type: 'tillbox drawer', broker: 'b1', drawer: 'drawer-1', timeout: 10, wires: [['out']] },
        { id: 's', type: 'tillbox device state', broker: 'b1', peripheral: 'printer-9', changesOnly: true, wires: [['state']] },
        { id: 'out', type: 'helper' },
        { id: 'state', type: 'helper' },
      ]);
      const retained = nextMessage('state');
      await connected('b1');
      const st = await retained;
      expect(st.payload.state).toBe('online');
      expect(st.retained).toBe(true);

      const opened = nextMessage('out');
      helper.getNode('d').receive({});
      expect((await opened).payload).toEqual({ pulsed: true, drawer: 'open' });

      const offline = nextMessage('state');
      await devices.publishAsync(stateTopic, JSON.stringify({ id: 'printer-9', kind: 'printer', state: 'offline', uri: 'tcp://127.0.0.1:9100', since: new Date().toISOString() }), {
        qos: 1,
        retain: true,
      });
      expect((await offline).payload.state).toBe('offline');
    } finally {
      await devices.publishAsync(stateTopic, '', { qos: 1, retain: true });
      await devices.endAsync();
    }
  }, 30_000);
});
