import { describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { connectOk, startBroker } from '../../test/broker/helpers.ts';
import { DEFAULT_LIMITS } from './broker.ts';

// Issue 9 §2: an offline persistent session queues at most offlineQueueMax
// messages (the oldest are dropped and counted), and a session nobody uses
// for sessionExpiryHours goes away with its queue.
describe('persistent sessions are bounded', () => {
  it('keeps the newest offlineQueueMax messages for an offline subscriber and counts the dropped ones', async () => {
    const b = await startBroker({ anonymousLoopback: { enabled: true, role: 'kiosk' }, limits: { ...DEFAULT_LIMITS, offlineQueueMax: 100 } });
    try {
      const sub = await connectOk(b.url, { clientId: 'anonymous-offline', clean: false });
      await sub.subscribeAsync('store/S1/pos/#', { qos: 1 });
      await sub.endAsync();
      for (let i = 0; i < 300; i++) await b.broker.publish('store/S1/pos/sale', String(i), { qos: 1 });
      await b.broker.flushed();
      for (let i = 0; i < 100 && b.broker.queueStats.dropped < 200; i++) await new Promise((r) => setTimeout(r, 20));
      expect(b.broker.queueStats.dropped).toBe(200);
      const got: number[] = [];
      const again = await connectOk(b.url, { clientId: 'anonymous-offline', clean: false });
      again.on('message', (_t, p) => got.push(Number(p.toString())));
      for (let i = 0; i < 200 && got.length < 100; i++) await new Promise((r) => setTimeout(r, 20));
      await again.endAsync();
      expect(got.length).toBe(100);
      expect(got[0]).toBe(200); // the oldest went first
      expect(got.at(-1)).toBe(299);
    } finally {
      await b.close();
    }
  });

  it('holds the bound under a burst of concurrent publishes, not only one message at a time', async () => {
    const b = await startBroker({ anonymousLoopback: { enabled: true, role: 'kiosk' }, limits: { ...DEFAULT_LIMITS, offlineQueueMax: 100 } });
    try {
      const sub = await connectOk(b.url, { clientId: 'anonymous-burst', clean: false });
      await sub.subscribeAsync('store/S1/pos/#', { qos: 1 });
      await sub.endAsync();
      await Promise.all(Array.from({ length: 2000 }, (_, i) => b.broker.publish('store/S1/pos/sale', String(i), { qos: 1 })));
      await b.broker.flushed();
      for (let i = 0; i < 250 && b.broker.queueStats.dropped < 1900; i++) await new Promise((r) => setTimeout(r, 20));
      expect(b.broker.queueStats.dropped).toBe(1900);
      const got: number[] = [];
      const again = await connectOk(b.url, { clientId: 'anonymous-burst', clean: false });
      again.on('message', (_t, p) => got.push(Number(p.toString())));
      for (let i = 0; i < 100; i++) await new Promise((r) => setTimeout(r, 20));
      await again.endAsync();
      expect(got.length).toBe(100);
      expect(got[0]).toBe(1900);
    } finally {
      await b.close();
    }
  });

  it('expires a session unused for sessionExpiryHours: subscriptions and queue are gone', async () => {
    const b = await startBroker({ anonymousLoopback: { enabled: true, role: 'kiosk' }, limits: { ...DEFAULT_LIMITS, sessionExpiryHours: 1 } });
    try {
      const sub = await connectOk(b.url, { clientId: 'anonymous-stale', clean: false });
      await sub.subscribeAsync('store/S1/pos/#', { qos: 1 });
      await sub.endAsync();
      await b.broker.publish('store/S1/pos/sale', 'queued', { qos: 1 });
      await b.broker.flushed();
      expect(await b.broker.expireSessions(Date.now() + 30 * 60_000)).toEqual([]);
      expect(await b.broker.expireSessions(Date.now() + 2 * 3_600_000)).toEqual(['anonymous-stale']);
      const back = await mqtt.connectAsync(b.url, { clientId: 'anonymous-stale', clean: false, reconnectPeriod: 0 });
      const got: string[] = [];
      back.on('message', (_t, p) => got.push(p.toString()));
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toEqual([]);
      await back.endAsync();
    } finally {
      await b.close();
    }
  });
});
