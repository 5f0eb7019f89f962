import { Socket } from 'node:net';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import mqtt from 'mqtt';
import { DeviceBus } from '../../appliance/devices/bus.ts';
import { silentLogger } from '../../appliance/log.ts';
import { STORE, startBroker } from './helpers.ts';

// Issue 14: a sale's kitchen ticket crosses the local broker four times
// (pos/sale to flows, cmd/print to devices, the reply back, printed), and each
// hop is a small packet written right after a PUBACK. With Nagle's algorithm
// on, such a write waits for the peer's delayed ACK (~40 ms on Linux): sale →
// ticket measured p50 107 ms at 20 sales/s, 17 ms with TCP_NODELAY on both
// ends. These tests check the socket option is set on every end, not timings.

const { TillboxConnection } = createRequire(import.meta.url)('../../flows/nodes/lib/connection.js') as {
  TillboxConnection: new (
    opts: object,
  ) => { register(node: object): void; deregister(node: object): Promise<void>; state: string; client?: { stream: unknown }; on(e: 'state', f: (s: string) => void): void };
};

/** Sockets on which setNoDelay(true) was called (this process). */
function watchNoDelay(): { sockets(): Socket[] } {
  const calls: Socket[] = [];
  const original = Socket.prototype.setNoDelay;
  vi.spyOn(Socket.prototype, 'setNoDelay').mockImplementation(function (this: Socket, on?: boolean) {
    if (on !== false) calls.push(this);
    return original.call(this, on);
  });
  return { sockets: () => calls };
}

const until = async (what: string, fn: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !fn(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!fn()) throw new Error(`timed out waiting for ${what}`);
};

describe('local MQTT turns Nagle off on both ends', () => {
  afterEach(() => vi.restoreAllMocks());

  it('the broker sets TCP_NODELAY on every TCP connection it accepts', async () => {
    const watch = watchNoDelay();
    const b = await startBroker();
    const port = b.broker.addresses.tcp!.port;
    const c = await mqtt.connectAsync(b.url, { clientId: 'kiosk-nagle', username: 'kiosk', password: b.password('kiosk'), reconnectPeriod: 0, protocolVersion: 4 });
    try {
      const local = c.stream as Socket;
      const serverSide = watch.sockets().filter((s) => s.localPort === port && s.remotePort === local.localPort);
      expect(serverSide).toHaveLength(1);
    } finally {
      await c.endAsync();
      await b.close();
    }
  });

  it('the devices process and the flows nodes set TCP_NODELAY on their broker connections', async () => {
    const b = await startBroker();
    const port = b.broker.addresses.tcp!.port;
    const watch = watchNoDelay();
    const bus = new DeviceBus({ storeId: STORE, endpoint: () => ({ host: '127.0.0.1', port }), username: 'devices', password: b.password('devices'), log: silentLogger() });
    const flows = new TillboxConnection({ url: b.url, username: 'flows', password: b.password('flows'), storeId: STORE });
    const node = {};
    try {
      await bus.start();
      flows.register(node);
      await until('the flows connection', () => flows.state === 'connected');
      // Client ends only (the broker's own ends have localPort === port), each counted once.
      const clientSide = new Set(watch.sockets().filter((s) => s.remotePort === port && s.localPort !== port));
      expect(clientSide.has(flows.client!.stream as unknown as Socket)).toBe(true);
      expect(clientSide.size).toBe(2); // flows and the devices bus
    } finally {
      await flows.deregister(node);
      await bus.stop();
      await b.close();
    }
  });
});
