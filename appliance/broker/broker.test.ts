import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type mqtt from 'mqtt';
import type { Role } from '../../contract/roles.ts';
import { connectOk, lanAddress, startBroker, tryConnect, type Started } from '../../test/broker/helpers.ts';
import { DEFAULT_LIMITS } from './broker.ts';

/** SUBACK return codes; mqtt.js turns a 0x80 into an error carrying the SUBACK packet. */
async function grantedCodes(c: mqtt.MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await c.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: Array<number | { qos: number }> } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted.map((g) => (typeof g === 'number' ? g : g.qos));
  }
}

/** 'acked' when the broker PUBACKs, 'closed' when it drops the connection instead (denied). */
async function publishOutcome(url: string, role: Role, password: string, topic: string): Promise<'acked' | 'closed'> {
  const c = await connectOk(url, { username: role, password, clientId: `${role}-acl` });
  try {
    return await new Promise((resolve) => {
      c.once('close', () => resolve('closed'));
      c.publish(topic, 'x', { qos: 1 }, (err) => resolve(err ? 'closed' : 'acked'));
    });
  } finally {
    c.end(true);
  }
}

async function subscribeGrant(url: string, role: Role, password: string, filter: string): Promise<number> {
  const c = await connectOk(url, { username: role, password, clientId: `${role}-acl` });
  try {
    return (await grantedCodes(c, [filter]))[0]!;
  } finally {
    c.end(true);
  }
}

describe('LocalBroker on real sockets', () => {
  let b: Started;
  beforeAll(async () => {
    b = await startBroker({ anonymousLoopback: { enabled: true, role: 'kiosk' }, ws: { enabled: true, host: '127.0.0.1', port: 0, tls: false } });
  });
  afterAll(async () => {
    await b.close();
  });

  const publishMatrix: Array<[Role, string, 'acked' | 'closed']> = [
    ['core', 'store/S1/pos/sale', 'acked'],
    ['core', 'store/S1/box/status', 'acked'],
    ['devices', 'store/S1/devices/scale1/weight', 'acked'],
    ['devices', 'store/S1/devices/printer1/cmd/print/reply', 'acked'],
    ['devices', 'store/S1/devices/printer1/cmd/print', 'closed'],
    ['devices', 'store/S1/pos/sale', 'closed'],
    ['flows', 'store/S1/pos/sale', 'closed'],
    ['flows', 'store/S1/devices/printer1/cmd/print', 'acked'],
    ['flows', 'store/S1/flows/anything', 'acked'],
    ['flows', 'store/S1/devices/scale1/weight', 'closed'],
    ['kiosk', 'store/S1/devices/drawer1/cmd/open', 'acked'],
    ['kiosk', 'store/S1/pos/sale', 'closed'],
    ['admin', 'store/S1/box/maintenance', 'acked'],
    ['admin', 'store/S1/pos/refund', 'closed'],
    ['admin', '$SYS/forged', 'closed'],
  ];
  for (const [role, topic, expected] of publishMatrix) {
    it(`${expected === 'acked' ? 'lets' : 'does not let'} ${role} publish ${topic}`, async () => {
      expect(await publishOutcome(b.url, role, b.password(role), topic)).toBe(expected);
    });
  }

  const subscribeMatrix: Array<[Role, string, boolean]> = [
    ['core', 'store/S1/#', true],
    ['core', '#', false],
    ['devices', 'store/S1/devices/+/cmd/#', true],
    ['devices', 'store/S1/#', false],
    ['flows', 'store/S1/#', true],
    ['flows', 'store/S2/#', false],
    ['kiosk', 'store/S1/pos/#', true],
    ['kiosk', 'store/S1/flows/#', false],
    ['kiosk', 'store/+/pos/#', false],
    ['admin', '#', true],
  ];
  for (const [role, filter, allowed] of subscribeMatrix) {
    it(`${allowed ? 'grants' : 'refuses (0x80)'} ${role} a subscription to ${filter}`, async () => {
      const qos = await subscribeGrant(b.url, role, b.password(role), filter);
      expect(qos).toBe(allowed ? 1 : 128);
    });
  }

  it('refuses a wrong password with "bad user name or password"', async () => {
    expect((await tryConnect(b.url, { username: 'devices', password: 'wrong', clientId: 'devices' })).returnCode).toBe(4);
  });

  it('refuses a client id that belongs to another identity (spoofing) with "identifier rejected"', async () => {
    const r = await tryConnect(b.url, { username: 'flows', password: b.password('flows'), clientId: 'core' });
    expect(r.returnCode).toBe(2);
    const anon = await tryConnect(b.url, { clientId: 'devices' });
    expect(anon.returnCode).toBe(2);
  });

  it('accepts an anonymous loopback client with the configured role and applies that role', async () => {
    const c = await connectOk(b.url, { clientId: 'anonymous-till' });
    expect(await grantedCodes(c, ['store/S1/pos/#', 'store/S1/flows/#'])).toEqual([1, 128]);
    await c.endAsync();
  });

  it('delivers an in-process publish from core (no ACL) to a subscriber', async () => {
    const c = await connectOk(b.url, { username: 'kiosk', password: b.password('kiosk'), clientId: 'kiosk-rx' });
    await c.subscribeAsync('store/S1/pos/#', { qos: 1 });
    const got = new Promise<string>((r) => c.once('message', (_t, p) => r(p.toString())));
    await b.broker.publish('store/S1/pos/sale', JSON.stringify({ id: 'e1' }), { qos: 1 });
    expect(JSON.parse(await got)).toEqual({ id: 'e1' });
    await c.endAsync();
  });

  it('serves MQTT over WebSocket with the same authentication', async () => {
    const ws = b.broker.addresses.ws!;
    const url = `ws://${ws.host}:${ws.port}`;
    const c = await connectOk(url, { username: 'kiosk', password: b.password('kiosk'), clientId: 'kiosk-ws' });
    await c.endAsync();
    expect((await tryConnect(url, { username: 'kiosk', password: 'bad', clientId: 'kiosk-ws' })).returnCode).toBe(4);
  });
});

describe('LocalBroker limits', () => {
  let b: Started;
  beforeAll(async () => {
    b = await startBroker({
      anonymousLoopback: { enabled: true, role: 'core' },
      limits: { ...DEFAULT_LIMITS, maxPacketSize: 1024, connectionsPerAddressPerMinute: 60, queueLimit: 42, keepaliveMin: 5, keepaliveMax: 300 },
    });
  });
  afterAll(async () => {
    await b.close();
  });

  it('refuses an oversized PUBLISH by closing the connection, and keeps serving others', async () => {
    const c = await connectOk(b.url, { clientId: 'anonymous-big' });
    const outcome = await new Promise<string>((resolve) => {
      c.once('close', () => resolve('closed'));
      c.publish('store/S1/big', Buffer.alloc(2000, 1), { qos: 1 }, (err) => resolve(err ? 'closed' : 'acked'));
    });
    c.end(true);
    expect(outcome).toBe('closed');
    const ok = await connectOk(b.url, { clientId: 'anonymous-small' });
    await ok.publishAsync('store/S1/small', Buffer.alloc(500, 1), { qos: 1 });
    await ok.endAsync();
  });

  it('closes a connection whose packet header announces 256 MB without waiting for the body', async () => {
    const tcp = b.broker.addresses.tcp!;
    const closed = await new Promise<boolean>((resolve) => {
      const s = netConnect(tcp.port, tcp.host, () => s.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f])));
      s.on('error', () => {});
      s.on('close', () => resolve(true));
    });
    expect(closed).toBe(true);
  });
});

const lan = lanAddress();
describe.skipIf(!lan)('LocalBroker on a non-loopback address', () => {
  let b: Started;
  beforeAll(async () => {
    b = await startBroker({
      tcp: { host: lan!, port: 0 },
      anonymousLoopback: { enabled: true, role: 'admin' },
      tls: { enabled: true, host: lan!, port: 0 },
      limits: { ...DEFAULT_LIMITS, maxPacketSize: 65536, connectionsPerAddressPerMinute: 8, queueLimit: 42, keepaliveMin: 5, keepaliveMax: 300 },
    });
  });
  afterAll(async () => {
    await b.close();
  });

  it('refuses an anonymous client from the LAN with "not authorized" although loopback anonymous is on', async () => {
    expect((await tryConnect(b.url, { clientId: 'anonymous-lan' })).returnCode).toBe(5);
  });

  it('accepts LAN clients over TLS with credentials (per-box self-signed certificate) and refuses them without', async () => {
    const tls = b.broker.addresses.tls!;
    const url = `mqtts://${tls.host}:${tls.port}`;
    const c = await connectOk(url, { username: 'devices', password: b.password('devices'), clientId: 'devices-lan', rejectUnauthorized: false });
    await c.endAsync();
    expect((await tryConnect(url, { clientId: 'anonymous-lan', rejectUnauthorized: false })).returnCode).toBe(5);
  });

  it('drops connections from one address beyond the per-minute rate', async () => {
    const results: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await tryConnect(b.url, { username: 'kiosk', password: b.password('kiosk'), clientId: `kiosk-${i}` });
      results.push(r.returnCode);
      r.client?.end(true);
    }
    // 8 per minute, and the earlier tests in this block already used some.
    expect(results.filter((c) => c === -1).length).toBeGreaterThan(0);
    expect(results.at(-1)).toBe(-1);
  });
});
