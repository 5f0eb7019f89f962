import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferNodeRedModules } from './runtime.ts';

// Node-RED modules whose start-up cost waits for first use
// (flows/runtime.ts deferNodeRedModules): the JSON node's Ajv
// (flows/lazy-ajv.cjs) still validates msg.schema with the draft-06 meta
// schema the node adds, and moment (flows/lazy-moment.cjs) still answers
// JSONata's $moment and formatted dates.

const require = createRequire(import.meta.url);
// Before the test helper loads Node-RED, as the flows process does.
deferNodeRedModules();
const helper = require('node-red-node-test-helper') as {
  init(path: string, settings?: object): void;
  settings(s: object): object;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  load(nodes: unknown, flow: object[]): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): any;
};

let jsonNode: unknown;

beforeAll(async () => {
  jsonNode = require(createRequire(require.resolve('node-red')).resolve('@node-red/nodes/core/parsers/70-JSON.js'));
  helper.init(require.resolve('node-red'));
  helper.settings({ logging: { console: { level: 'off' } } });
  await helper.startServer();
});

afterAll(async () => {
  await helper.unload();
  await helper.stopServer();
});

describe("the JSON node's Ajv", () => {
  it('is the lazy one, and the node still validates msg.schema (draft-06 included)', async () => {
    await helper.load(jsonNode, [
      { id: 'j', type: 'json', action: 'obj', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ]);
    // The node requires ajv when Node-RED registers it.
    expect(require.cache[resolve(import.meta.dirname, 'lazy-ajv.cjs')]).toBeDefined();
    const j = helper.getNode('j');
    const out: unknown[] = [];
    const errors: string[] = [];
    helper.getNode('out').on('input', (m: unknown) => out.push(m));
    j.on('call:error', (call: { args: unknown[] }) => errors.push(String(call.args[0])));
    const schema = { $schema: 'http://json-schema.org/draft-06/schema#', type: 'object', properties: { qty: { type: 'integer' } }, required: ['qty'] };
    j.receive({ payload: '{"qty":2}', schema });
    j.receive({ payload: '{"qty":"two"}', schema });
    await new Promise((r) => setTimeout(r, 200));
    expect(out).toHaveLength(1);
    expect(errors.join('\n')).toMatch(/must be integer/);
  });
});

describe('moment in Node-RED', () => {
  it('is the lazy one, and formats dates and answers $moment with time zones', async () => {
    const util = require(createRequire(require.resolve('node-red')).resolve('@node-red/util')).util as {
      evaluateNodeProperty(value: string, type: string, node: unknown, msg: object): unknown;
      prepareJSONataExpression(expr: string, node: unknown): unknown;
      evaluateJSONataExpression(expr: unknown, msg: object, cb: (err: unknown, value: unknown) => void): void;
    };
    expect(require.cache[resolve(import.meta.dirname, 'lazy-moment.cjs')]).toBeDefined();
    expect(util.evaluateNodeProperty('YYYY', 'date', {}, {})).toBe(String(new Date().getFullYear()));
    const expr = util.prepareJSONataExpression('$moment("2026-07-01T12:00:00Z").tz("Europe/Paris").format("HH:mm")', {});
    const value = await new Promise((res, rej) => util.evaluateJSONataExpression(expr, {}, (err, v) => (err ? rej(err) : res(v))));
    expect(value).toBe('14:00');
  });
});
