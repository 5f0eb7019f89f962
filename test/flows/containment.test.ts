import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { postSale } from '../../harness/box.ts';
import { admin, adminToken, roleClient, startCore, startFlowsProcess, until, SALE, type CoreBox, type FlowsProcess } from './support.ts';

// Issue 9 §1: a function node that escapes Node-RED's vm holds the flows
// process's real `process`. Deployed as real flows into the real, contained
// flows process, each attack reports what it got on a flows topic; none may
// succeed, and ordinary function nodes and the tillbox nodes keep working.

const B = 'tbx-broker';
// Every way in that the issue reported, then what the attacker would do with it.
const ATTACK = String.raw`
const P = msg.constructor.constructor('return process')();
const viaEnv = env.get.constructor('return process')();
const viaBuffer = Buffer.constructor('return process')();
const viaTimer = setTimeout.constructor('return process')();
const out = { sameProcess: P === viaEnv && P === viaBuffer && P === viaTimer, permission: !!P.permission };
const tryIt = (name, fn) => { try { out[name] = 'ALLOWED ' + String(fn()).slice(0, 80); } catch (e) { out[name] = 'denied ' + (e.code || e.message); } };
const fs = P.getBuiltinModule('fs');
const dir = msg.stateDir;
tryIt('spawn', () => P.getBuiltinModule('child_process').execSync('id').toString());
tryIt('worker', () => new (P.getBuiltinModule('worker_threads').Worker)('1', { eval: true }));
tryIt('readCoreSecrets', () => fs.readFileSync(dir + '/secrets.json', 'utf8'));
tryIt('readJournal', () => fs.readdirSync(dir + '/journal').join(','));
tryIt('writeOutside', () => fs.writeFileSync(dir + '/planted.txt', 'x'));
tryIt('symlinkSecrets', () => { fs.symlinkSync(dir + '/secrets.json', dir + '/flows/ln'); return fs.readFileSync(dir + '/flows/ln', 'utf8'); });
tryIt('hardlinkSecrets', () => { fs.linkSync(dir + '/secrets.json', dir + '/flows/hl'); return fs.readFileSync(dir + '/flows/hl', 'utf8'); });
tryIt('sqliteWrite', () => { const { DatabaseSync } = P.getBuiltinModule('node:sqlite'); new DatabaseSync(dir + '/planted.db').exec('create table t(a)'); return 'created'; });
tryIt('binding', () => Object.keys(P.binding('fs')).length);
tryIt('addon', () => P.dlopen({ exports: {} }, msg.addon));
tryIt('killCore', () => P.kill(msg.corePid, 'SIGSTOP'));
tryIt('envSecrets', () => Object.keys(P.env).filter((k) => /PASSWORD|TOKEN|SECRET/.test(k)).join(',') || 'none');
msg.payload = out;
msg.topic = 'contained/report';
return msg;
`;

let core: CoreBox;
let flows: FlowsProcess;
let watcher: MqttClient;
const seen: Array<{ topic: string; payload: string }> = [];

beforeAll(async () => {
  core = await startCore();
  watcher = await roleClient(core, 'admin');
  watcher.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
  await watcher.subscribeAsync(`store/${core.storeId}/#`, { qos: 1 });
  flows = await startFlowsProcess(core, { TILLBOX_CLOUD_PASSWORD: 'must-not-reach-flows' });
  const nr = core.secrets().nodeRed!;
  const token = await adminToken(flows.url, nr.username, nr.password);
  const current = (await (await admin(flows.url, token, 'GET', 'flows')).json()) as object[];
  const addon = join(import.meta.dirname, '../../node_modules/classic-level/prebuilds/linux-x64/classic-level.glibc.node');
  const attack = [
    { id: 'atk', type: 'tab', label: 'hostile integrator' },
    { id: 'atk-in', type: 'tillbox in', z: 'atk', broker: B, source: 'pos', eventType: 'sale', wires: [['atk-fn', 'ok-fn']] },
    {
      id: 'atk-fn',
      type: 'function',
      z: 'atk',
      name: 'escape',
      func: `msg.stateDir = ${JSON.stringify(core.stateDir)}; msg.addon = ${JSON.stringify(addon)}; msg.corePid = ${core.box.child.pid};\n${ATTACK}`,
      outputs: 1,
      timeout: 0,
      libs: [],
      wires: [['atk-out']],
    },
    // An ordinary function node next to it keeps working.
    {
      id: 'ok-fn',
      type: 'function',
      z: 'atk',
      name: 'ordinary',
      func: "msg.topic = 'contained/ordinary'; msg.payload = { total: msg.payload.total }; return msg;",
      outputs: 1,
      timeout: 0,
      libs: [],
      wires: [['atk-out']],
    },
    // Reports go out on store/{s}/cloud/contained/... (the flows role may publish there).
    { id: 'atk-out', type: 'tillbox cloud out', z: 'atk', broker: B, topic: '', wires: [] },
  ];
  const r = await admin(flows.url, token, 'POST', 'flows', [...current, ...attack]);
  expect(r.status).toBeLessThan(300);
}, 90_000);

afterAll(async () => {
  await flows?.stop();
  await watcher?.endAsync();
  await core?.stop();
}, 30_000);

describe('a function node that escapes the vm, in the contained flows process', () => {
  it('holds the real process but cannot spawn, start a worker, read other secrets, write outside its dir, link, load sqlite or addons, or signal core', async () => {
    // The redeployed 'tillbox in' subscribes a moment after the deploy answers: sell until it hears one.
    let n = 0;
    const report = await until(
      async () => {
        const found = seen.find((m) => m.topic.endsWith('/report'));
        if (!found) expect((await postSale(core.httpPort, `contained-${n++}`, SALE([{ sku: 'MILK-1L', qty: 1 }]))).status).toBe(201);
        return found;
      },
      'the attack report',
      60_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; seen: ${seen.map((m) => m.topic).join(', ')}\n${flows.output().slice(-3000)}`);
    });
    const r = JSON.parse(report.payload) as Record<string, unknown>;
    expect(r.sameProcess).toBe(true); // the escape itself works: vm is no boundary
    expect(r.permission).toBe(true);
    for (const k of ['spawn', 'worker', 'readCoreSecrets', 'readJournal', 'writeOutside', 'symlinkSecrets', 'hardlinkSecrets', 'sqliteWrite', 'binding', 'addon', 'killCore']) {
      expect(String(r[k]), `${k}: ${r[k]}`).toMatch(/^denied/);
    }
    expect(r.envSecrets).toBe('ALLOWED none');
    expect(existsSync(join(core.stateDir, 'planted.txt'))).toBe(false);
    expect(existsSync(join(core.stateDir, 'planted.db'))).toBe(false);
    expect(readFileSync(join(core.stateDir, 'secrets.json'), 'utf8')).not.toContain('"ln"');
    // The ordinary function node next to it still works, and so does selling.
    await until(() => seen.find((m) => m.topic.endsWith('/ordinary')), 'the ordinary function output');
    expect((await postSale(core.httpPort, 'contained-2', SALE([{ sku: 'MILK-1L', qty: 1 }]))).status).toBe(201);
  });
});
