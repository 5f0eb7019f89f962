import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { LocalBroker, DEFAULT_LIMITS, type BrokerOptions } from '../../appliance/broker/broker.ts';
import { silentLogger } from '../../appliance/log.ts';
import { ROLES, type Role } from '../../contract/roles.ts';

export const STORE = 'S1';

/** One account per role, named after the role, with a random password. */
export function roleAccounts(): Array<{ username: string; password: string; role: Role }> {
  return ROLES.map((role) => ({ username: role, password: randomBytes(12).toString('base64url'), role }));
}

export function tempStateDir(): string {
  return mkdtempSync(join(tmpdir(), 'tillbox-broker-'));
}

export function brokerOptions(stateDir: string, over: Partial<BrokerOptions> = {}): BrokerOptions {
  return {
    stateDir,
    storeId: STORE,
    log: silentLogger(),
    accounts: roleAccounts(),
    tcp: { host: '127.0.0.1', port: 0 },
    anonymousLoopback: { enabled: false, role: 'kiosk' },
    tls: { enabled: false, host: '127.0.0.1', port: 0 },
    ws: { enabled: false, host: '127.0.0.1', port: 0, tls: false },
    limits: { ...DEFAULT_LIMITS },
    persistence: { sync: 'batch' },
    ...over,
  };
}

export interface Started {
  broker: LocalBroker;
  opts: BrokerOptions;
  stateDir: string;
  url: string;
  password(role: Role): string;
  close(): Promise<void>;
}

export async function startBroker(over: Partial<BrokerOptions> = {}, stateDir = tempStateDir()): Promise<Started> {
  const opts = brokerOptions(stateDir, over);
  const broker = new LocalBroker(opts);
  await broker.start();
  const tcp = broker.addresses.tcp!;
  return {
    broker,
    opts,
    stateDir,
    url: `mqtt://${tcp.host}:${tcp.port}`,
    password: (role) => opts.accounts.find((a) => a.username === role)!.password,
    async close() {
      await broker.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export interface ConnectResult {
  client?: mqtt.MqttClient;
  /** CONNACK return code, or -1 when the connection closed without one. */
  returnCode: number;
}

/** Connects without retries and reports the CONNACK code instead of throwing. */
export function tryConnect(url: string, opts: mqtt.IClientOptions): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4, ...opts });
    let settled = false;
    const done = (r: ConnectResult): void => {
      if (settled) return;
      settled = true;
      if (!r.client) c.end(true);
      resolve(r);
    };
    c.once('connect', () => done({ client: c, returnCode: 0 }));
    c.once('error', (err: Error & { code?: number }) => done({ returnCode: typeof err.code === 'number' ? err.code : -1 }));
    c.once('close', () => done({ returnCode: -1 }));
  });
}

export async function connectOk(url: string, opts: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  const r = await tryConnect(url, opts);
  if (!r.client) throw new Error(`connect refused with code ${r.returnCode}`);
  return r.client;
}

/** A non-loopback IPv4 address of this machine, if it has one. */
export function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
