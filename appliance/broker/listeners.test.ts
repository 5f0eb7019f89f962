import { describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startBroker } from '../../test/broker/helpers.ts';

// Issue 9 §4: ws.tls means what it says, and the bound addresses carry the scheme
// clients must use (the banner and runtime.json print it).
describe('broker listeners', () => {
  it('serves plain WebSocket when mqtt.tls is on but ws.tls is off, and says ws://', async () => {
    const b = await startBroker({
      anonymousLoopback: { enabled: true, role: 'kiosk' },
      tls: { enabled: true, host: '127.0.0.1', port: 0 },
      ws: { enabled: true, host: '127.0.0.1', port: 0, tls: false },
    });
    try {
      const ws = b.broker.addresses.ws!;
      expect(ws.scheme).toBe('ws');
      expect(b.broker.addresses.tls!.scheme).toBe('mqtts');
      const c = await mqtt.connectAsync(`ws://${ws.host}:${ws.port}`, { clientId: 'anonymous-ws', reconnectPeriod: 0, connectTimeout: 5000 });
      await c.endAsync();
    } finally {
      await b.close();
    }
  });

  it('serves wss:// when ws.tls is on', async () => {
    const b = await startBroker({ anonymousLoopback: { enabled: true, role: 'kiosk' }, ws: { enabled: true, host: '127.0.0.1', port: 0, tls: true } });
    try {
      const ws = b.broker.addresses.ws!;
      expect(ws.scheme).toBe('wss');
      const c = await mqtt.connectAsync(`wss://${ws.host}:${ws.port}`, { clientId: 'anonymous-wss', reconnectPeriod: 0, connectTimeout: 5000, rejectUnauthorized: false });
      await c.endAsync();
    } finally {
      await b.close();
    }
  });
});
