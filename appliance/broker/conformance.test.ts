import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { connectOk, startBroker, tryConnect, type Started } from '../../test/broker/helpers.ts';
import { ConformanceHooks } from './aedes-patches/conformance.ts';
import { assertPinnedVersions } from './aedes-patches/index.ts';

// MQTT 3.1.1 statements aedes 1.2 failed and Mosquitto meets (issue 9 §5).

let b: Started;
beforeAll(async () => {
  b = await startBroker({ anonymousLoopback: { enabled: true, role: 'kiosk' } });
});
afterAll(() => b.close());

const admin = () => ({ username: 'admin', password: b.password('admin') });

/** Raw MQTT over a socket: send packets, collect the parsed answers. */
function rawClient(port: number) {
  const socket = netConnect(port, '127.0.0.1');
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const got: mqttPacket.Packet[] = [];
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', () => undefined);
  parser.on('packet', (p) => got.push(p));
  return {
    send: (p: object) => socket.write(mqttPacket.generate(p as mqttPacket.Packet)),
    sendBytes: (b: Buffer) => socket.write(b),
    async next(cmd: string, ms = 5000): Promise<mqttPacket.Packet> {
      const t0 = Date.now();
      for (;;) {
        const i = got.findIndex((p) => p.cmd === cmd);
        if (i >= 0) return got.splice(i, 1)[0]!;
        if (Date.now() - t0 > ms) throw new Error(`no ${cmd}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () => new Promise<void>((r) => socket.end(() => r())),
  };
}

describe('MQTT 3.1.1 conformance of the local broker', () => {
  it('[MQTT-3.8.4-6] downgrades to the QoS granted to a matching wildcard subscription', async () => {
    const sub = await connectOk(b.url, { ...admin(), clientId: 'admin-wild' });
    await sub.subscribeAsync('store/S1/flows/+', { qos: 1 });
    const got = new Promise<number>((r) => sub.on('message', (_t, _p, packet) => r(packet.qos)));
    const pub = await connectOk(b.url, { ...admin(), clientId: 'admin-pub2' });
    await pub.publishAsync('store/S1/flows/a', 'x', { qos: 2 });
    expect(await got).toBe(1);
    await sub.endAsync();
    await pub.endAsync();
  });

  it('[MQTT-3.8.4-6] sends a retained QoS 2 message at QoS 0 to a QoS 0 subscription', async () => {
    const pub = await connectOk(b.url, { ...admin(), clientId: 'admin-ret' });
    await pub.publishAsync('store/S1/flows/retained', 'kept', { qos: 2, retain: true });
    const sub = await connectOk(b.url, { ...admin(), clientId: 'admin-ret-sub' });
    const got = new Promise<{ qos: number; retain: boolean }>((r) => sub.on('message', (_t, _p, packet) => r({ qos: packet.qos, retain: packet.retain })));
    await sub.subscribeAsync('store/S1/flows/#', { qos: 0 });
    expect(await got).toEqual({ qos: 0, retain: true });
    await pub.publishAsync('store/S1/flows/retained', '', { qos: 1, retain: true });
    await sub.endAsync();
    await pub.endAsync();
  });

  it('[MQTT-3.2.2-2] answers Session Present 1 when the only session state is an unreleased inbound QoS 2 message', async () => {
    const port = Number(new URL(b.url).port);
    const connect = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: 'admin-qos2', keepalive: 30, username: 'admin', password: Buffer.from(b.password('admin')) };
    const c1 = rawClient(port);
    c1.send(connect);
    expect(((await c1.next('connack')) as mqttPacket.IConnackPacket).sessionPresent).toBe(false);
    c1.send({ cmd: 'publish', topic: 'store/S1/flows/q2', payload: Buffer.from('x'), qos: 2, messageId: 7, retain: false, dup: false });
    await c1.next('pubrec'); // never PUBREL: the message stays unreleased
    await c1.close();
    await new Promise((r) => setTimeout(r, 100));
    const c2 = rawClient(port);
    c2.send(connect);
    expect(((await c2.next('connack')) as mqttPacket.IConnackPacket).sessionPresent).toBe(true);
    c2.send({ cmd: 'pubrel', messageId: 7 });
    await c2.next('pubcomp');
    await c2.close();
  });

  it('[MQTT-3.1.3-6] accepts a zero-byte client id with CleanSession 1 and assigns one bound to the identity; [MQTT-3.1.3-8] refuses it with CleanSession 0', async () => {
    const ok = await tryConnect(b.url, { clientId: '', clean: true });
    expect(ok.returnCode).toBe(0);
    ok.client?.end(true);
    // mqtt.js will not send this one: raw packets.
    const raw = rawClient(Number(new URL(b.url).port));
    // CONNECT, level 4, CleanSession 0, keepalive 30, zero-byte client id (mqtt-packet will not generate it either).
    raw.sendBytes(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 30, 0, 0]));
    expect(((await raw.next('connack')) as mqttPacket.IConnackPacket).returnCode).toBe(2);
    await raw.close();
  });

  it('never delivers a retained replay after a newer live message on the same topic', () => {
    const hooks = new ConformanceHooks();
    const client = { id: 'k', subscriptions: { 'a/#': { qos: 1 } } };
    hooks.subscribed(client);
    expect(hooks.forward(client, { topic: 'a/state', qos: 1, brokerId: 'b1', brokerCounter: 10 })).not.toBeNull();
    expect(hooks.forward(client, { topic: 'a/state', qos: 1, retain: true, brokerId: null })).toBeNull();
    expect(hooks.forward(client, { topic: 'a/other', qos: 1, retain: true, brokerId: null })).not.toBeNull();
  });

  it('runs only on the aedes and mqtt-packet versions its patches were written for', () => {
    expect(() => assertPinnedVersions()).not.toThrow();
  });
});
