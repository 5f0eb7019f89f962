import { flowsEnv, flowsPermissionArgs } from '../appliance/cli/flows-permissions.ts';
import { loadConfig } from '../appliance/config/index.ts';
import { nodeFlags } from '../appliance/cli/node-flags.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAsync, type MqttClient } from 'mqtt';
import { startBox, type BoxProcess } from './box.ts';
import type { Role } from '../contract/roles.ts';
import { localTopics } from '../contract/topics.ts';
import { renderKitchenTicket, type KitchenTicket } from '../drivers/printer/receipt.ts';
import { findModel } from '../drivers/printer/models.ts';
import { TcpTransport } from '../drivers/transports/tcp.ts';
import { createRequire } from 'node:module';

const { textJob } = createRequire(import.meta.url)('../flows/nodes/lib/escpos-text.js') as { textJob(lines: string[], o?: { title?: string }): Buffer };

// Shared by the flows integration tests: a real core in a child process, its
// accounts, MQTT clients per role, the flows process as a child, and a small
// device-command responder that prints on the real printer simulator.

const ROOT = resolve(import.meta.dirname, '..');

export interface CoreBox {
  box: BoxProcess;
  storeId: string;
  mqttPort: number;
  httpPort: number;
  stateDir: string;
  account(role: Role): { username: string; password: string };
  secrets(): { nodeRed?: { username: string; password: string } };
  stop(): Promise<void>;
}

export async function until<T>(fn: () => T | undefined | Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export async function startCore(env: Record<string, string> = {}): Promise<CoreBox> {
  const box = await startBox(undefined, env);
  const rtFile = join(box.stateDir, 'runtime.json');
  const rt = await until(() => (existsSync(rtFile) ? (JSON.parse(readFileSync(rtFile, 'utf8')) as { storeId: string; mqtt: { tcp: { port: number } } }) : undefined), 'runtime.json');
  const readSecrets = () => JSON.parse(readFileSync(join(box.stateDir, 'secrets.json'), 'utf8'));
  return {
    box,
    storeId: rt.storeId,
    mqttPort: rt.mqtt.tcp.port,
    httpPort: box.port,
    stateDir: box.stateDir,
    account(role) {
      const a = (readSecrets().mqtt as Array<{ role: string; username: string; password: string }>).find((x) => x.role === role)!;
      return { username: a.username, password: a.password };
    },
    secrets: readSecrets,
    stop: () => box.stop(),
  };
}

export async function roleClient(core: CoreBox, role: Role): Promise<MqttClient> {
  const a = core.account(role);
  return connectAsync(`mqtt://127.0.0.1:${core.mqttPort}`, {
    clientId: `${a.username}-test-${randomBytes(4).toString('hex')}`,
    username: a.username,
    password: a.password,
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
}

export interface FlowsProcess {
  child: ChildProcess;
  url: string;
  readyMs: number;
  output(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/** `tillbox flows` as a child on a free port, against the core of `core`. */
export async function startFlowsProcess(core: CoreBox, env: Record<string, string> = {}): Promise<FlowsProcess> {
  const t0 = performance.now();
  // Under the permission model directly, as tillbox start and the image run it (no re-exec parent).
  const config = loadConfig({ env: { ...process.env, ...env }, overrides: { demo: true } });
  const permission = config.flows.hardened ? flowsPermissionArgs({ stateDir: core.stateDir, config }) : [];
  const child = spawn(process.execPath, [...nodeFlags('flows'), ...permission, join(ROOT, 'appliance/cli/main.ts'), 'flows', '--demo'], {
    cwd: ROOT,
    env: { ...process.env, ...flowsEnv(core.stateDir), TILLBOX_STATE_DIR: core.stateDir, TILLBOX_FLOWS_PORT: '0', TILLBOX_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await until(
    () => {
      if (child.exitCode !== null) throw new Error(`tillbox flows exited with ${child.exitCode}:\n${out}`);
      return /Node-RED editor (\S+)/.exec(out)?.[1];
    },
    'tillbox flows to be ready',
    60_000,
  );
  const readyMs = Math.round(performance.now() - t0);
  return {
    child,
    url,
    readyMs,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface PrintRequestSeen {
  printer: string;
  correlation: string;
  args: { ticket?: KitchenTicket; raw?: string; saleId?: string };
  at: number;
}

/**
 * A minimal stand-in for the devices process's print command handling:
 * answers `cmd/print` with the reply envelope and, for printers mapped to a
 * simulator port, renders the job (kitchen ticket through the real renderer,
 * raw bytes as they are) and sends it over TCP to the ESC/POS simulator.
 */
export async function startPrintResponder(core: CoreBox, printers: Record<string, { port: number } | null> = {}): Promise<{ seen: PrintRequestSeen[]; stop(): Promise<void> }> {
  const client = await roleClient(core, 'devices');
  const seen: PrintRequestSeen[] = [];
  const model = findModel('generic-80')!;
  let jobs = 0;
  client.on('message', (topic, payload) => {
    const parts = topic.split('/');
    const printer = parts[3]!;
    if (parts[4] !== 'cmd' || parts[5] !== 'print' || parts.length !== 6) return;
    const req = JSON.parse(payload.toString()) as { correlation: string; replyTo?: string; args: PrintRequestSeen['args'] };
    seen.push({ printer, correlation: req.correlation, args: req.args, at: performance.now() });
    void (async () => {
      const target = printers[printer];
      let reply: object;
      if (target === undefined) {
        reply = { status: 'error', correlation: req.correlation, error: { code: 'TB_PERIPHERAL_UNKNOWN', message: `no printer ${printer}` } };
      } else {
        if (target) {
          const bytes = req.args.ticket ? renderKitchenTicket(model, req.args.ticket) : req.args.raw ? Buffer.from(req.args.raw, 'base64') : textJob(['receipt ' + req.args.saleId]);
          const t = new TcpTransport({ host: '127.0.0.1', port: target.port });
          await t.open();
          await t.write(bytes);
          await t.close();
        }
        reply = { status: 'ok', correlation: req.correlation, data: { jobId: `job-${++jobs}`, position: 0, duplicate: false } };
      }
      client.publish(req.replyTo ?? localTopics.deviceCommandReply(core.storeId, printer, 'print'), JSON.stringify(reply), { qos: 1 });
    })();
  });
  await client.subscribeAsync(`store/${core.storeId}/devices/+/cmd/+`, { qos: 1 });
  return { seen, stop: () => client.endAsync() };
}

export const SALE = (lines: Array<{ sku: string; qty: number }>) => ({
  lines,
  tenders: [{ type: 'cash', amount: 100_000 }],
});

/** Node-RED admin API: a bearer token for the generated admin login. */
export async function adminToken(url: string, username: string, password: string): Promise<string> {
  const r = await fetch(new URL('auth/token', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username, password }),
  });
  if (r.status !== 200) throw new Error(`login failed: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { access_token: string }).access_token;
}

export async function admin(url: string, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(new URL(path, url), {
    method,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), 'node-red-deployment-type': 'full' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/**
 * The real devices process (`tillbox devices`) with the given printers on
 * TCP (the ESC/POS simulator), nothing discovered, no auto-printed receipts.
 */
export async function startDevicesProcess(core: CoreBox, printers: Record<string, number>): Promise<{ output(): string; stop(): Promise<void> }> {
  const cfg = join(core.stateDir, 'devices-test.yaml');
  const peripherals = Object.entries(printers).map(([id, port]) => `  - { id: ${id}, kind: printer, uri: "tcp://127.0.0.1:${port}", model: generic-80 }`);
  writeFileSync(
    cfg,
    ['version: 1', 'peripherals:', ...peripherals, 'devices:', '  autoPrint: { enabled: false }', '  discovery: { usb: false, serialById: false }', '  demoSimulators: false', ''].join('\n'),
  );
  const child = spawn(process.execPath, [...nodeFlags('devices'), join(ROOT, 'appliance/cli/main.ts'), 'devices', '--demo', '--config', cfg], {
    cwd: ROOT,
    env: { ...process.env, TILLBOX_STATE_DIR: core.stateDir, TILLBOX_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await until(
    () => {
      if (child.exitCode !== null) throw new Error(`tillbox devices exited with ${child.exitCode}:\n${out}`);
      return out.includes('tillbox devices ready') || undefined;
    },
    'tillbox devices to be ready',
    60_000,
  );
  return {
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
