import { deserialize, serialize } from 'node:v8';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Level } from 'level';
import { decodeStored, encodeStoredPacket, OrderedLevelPersistence, type StoredPacket } from './persistence.ts';

// The fixed binary layout for plain publish packets must read back exactly
// what v8 serialisation of the same packet reads back, and values written
// with v8 (older boxes, non-plain packets) must still decode.
describe('stored packet encoding', () => {
  const base = (): StoredPacket => ({
    cmd: 'publish',
    brokerId: 'S1-b0000000001',
    brokerCounter: 42,
    topic: 'store/S1/pos/sale',
    payload: Buffer.from('héllo'),
    qos: 1,
    retain: false,
    dup: false,
    messageId: 7,
  });
  const v8 = (p: StoredPacket): StoredPacket => deserialize(serialize(p)) as StoredPacket;
  const cases: Array<[string, StoredPacket]> = [
    ['a plain packet', base()],
    ['no messageId (queued)', { ...base(), messageId: undefined }],
    ['retain, dup, qos 2, id 65535', { ...base(), retain: true, dup: true, qos: 2, messageId: 65535 }],
    ['no brokerId or counter', { ...base(), brokerId: undefined, brokerCounter: undefined }],
    ['an empty payload and a unicode topic', { ...base(), payload: Buffer.alloc(0), topic: 'store/S1/ü/#x' }],
    ['clientId and nl undefined', { ...base(), clientId: 'anonymous-pub', nl: undefined }],
    ['nl true', { ...base(), clientId: 'c', nl: true }],
    ['nl false', { ...base(), nl: false }],
    ['MQTT 5 properties (v8 fallback)', { ...base(), properties: { userProperties: { a: '1' } } }],
    ['a string payload (v8 fallback)', { ...base(), payload: 'text' }],
    ['a large counter', { ...base(), brokerCounter: 2 ** 40 + 3 }],
  ];
  for (const [name, p] of cases) {
    it(`round-trips ${name}`, () => {
      const b = encodeStoredPacket(p, p.messageId);
      expect(decodeStored<StoredPacket>(b)).toStrictEqual(v8(p));
    });
  }

  it('uses the fixed layout for a plain packet and v8 otherwise', () => {
    expect(encodeStoredPacket(base(), 1)[0]).toBe(0x01);
    expect(encodeStoredPacket({ ...base(), properties: {} }, 1)[0]).toBe(0xff);
  });

  it('decodes values written with v8 serialisation', () => {
    expect(decodeStored<StoredPacket>(serialize(base()))).toStrictEqual(v8(base()));
  });

  it('does not share the payload with the stored value', () => {
    const b = encodeStoredPacket(base(), 1);
    const p = decodeStored<StoredPacket>(b);
    (p.payload as Buffer)[0] = 0;
    expect(decodeStored<StoredPacket>(b).payload).toEqual(base().payload);
  });
});

// outgoingUpdate / outgoingClearMessageId settle before their batch is
// written (persistence.ts header), but stay in op order and reach the disk.
describe('subscriber bookkeeping writes', () => {
  it('are on disk after flushed(), after a reopen, and in op order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-persist-'));
    try {
      const open = (): OrderedLevelPersistence => new OrderedLevelPersistence({ db: new Level<string, Buffer>(dir, { valueEncoding: 'buffer' }), sync: 'batch' });
      let p = open();
      await p.setup({ id: 'B' });
      const client = { id: 'sub' };
      const packets = [1, 2, 3].map((n) => ({ ...{ cmd: 'publish', topic: 't', payload: Buffer.from([n]), qos: 1, retain: false, dup: false }, brokerId: 'B', brokerCounter: n }));
      for (const pk of packets) await p.outgoingEnqueue({ clientId: 'sub' }, pk);
      // Updated (sent with ids 11..13), then 1 and 2 acknowledged.
      for (const pk of packets) await p.outgoingUpdate(client, { ...pk, messageId: pk.brokerCounter + 10 });
      expect((await p.outgoingClearMessageId(client, { messageId: 11 }))?.brokerCounter).toBe(1);
      expect((await p.outgoingClearMessageId(client, { messageId: 12 }))?.brokerCounter).toBe(2);
      expect(await p.outgoingClearMessageId(client, { messageId: 12 })).toBeUndefined();
      await p.flushed();
      await p.destroy();

      p = open();
      await p.setup({ id: 'B2' });
      const left: StoredPacket[] = [];
      for await (const pk of p.outgoingStream(client)) left.push(pk as StoredPacket);
      expect(left.map((x) => [x.brokerCounter, x.messageId])).toEqual([[3, 13]]);
      // Cleared after a restart, when nothing is cached: read from disk.
      expect((await p.outgoingClearMessageId(client, { messageId: 13 }))?.brokerCounter).toBe(3);
      await p.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A QoS 1 delivery's packet id lives in memory and reaches the disk only if
// the subscriber is slow to acknowledge (persistence.ts, sent-ids.ts).
describe('QoS 1 deliveries to a persistent subscriber', () => {
  const packet = (n: number): StoredPacket => ({ cmd: 'publish', topic: 't', payload: Buffer.from([n]), qos: 1, retain: false, dup: false, brokerId: 'B', brokerCounter: n });

  it('write the message once and delete it once when the subscriber acknowledges at once, with no packet id entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-persist-ops-'));
    const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
    const p = new OrderedLevelPersistence({ db, sync: 'batch' });
    try {
      await p.setup({ id: 'B' });
      const ops: Array<{ type: string; key: string }> = [];
      db.on('write', (o: Array<{ type: string; key: string }>) => ops.push(...o.map(({ type, key }) => ({ type, key }))));
      const client = { id: 'sub' };
      await p.outgoingEnqueue({ clientId: 'sub' }, packet(1));
      await p.outgoingUpdate(client, { ...packet(1), messageId: 5 });
      expect((await p.outgoingClearMessageId(client, { messageId: 5 }))?.brokerCounter).toBe(1);
      await p.flushed();
      expect(ops).toEqual([
        { type: 'put', key: 'outgoing:sub:B:0000000000000001' },
        { type: 'del', key: 'outgoing:sub:B:0000000000000001' },
      ]);
      expect(p.queuedFor('sub')).toEqual({ count: 0, bytes: 0 });
    } finally {
      await p.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answer only to the latest packet id of a message resent under a new one, before and after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-persist-resend-'));
    const open = (): OrderedLevelPersistence => new OrderedLevelPersistence({ db: new Level<string, Buffer>(dir, { valueEncoding: 'buffer' }), sync: 'batch' });
    try {
      let p = open();
      await p.setup({ id: 'B' });
      const client = { id: 'sub' };
      await p.outgoingEnqueue({ clientId: 'sub' }, packet(1));
      await p.outgoingEnqueue({ clientId: 'sub' }, packet(2));
      await p.outgoingUpdate(client, { ...packet(1), messageId: 7 });
      await p.flushed(); // id 7 is on disk now
      await p.outgoingUpdate(client, { ...packet(1), messageId: 8 });
      await p.outgoingUpdate(client, { ...packet(2), messageId: 9 });
      expect(await p.outgoingClearMessageId(client, { messageId: 7 })).toBeUndefined();
      await p.flushed();
      await p.destroy();

      p = open();
      await p.setup({ id: 'B2' });
      const left: StoredPacket[] = [];
      for await (const pk of p.outgoingStream(client)) left.push(pk as StoredPacket);
      expect(left.map((x) => [x.brokerCounter, x.messageId])).toEqual([
        [1, 8],
        [2, 9],
      ]);
      expect(await p.outgoingClearMessageId(client, { messageId: 7 })).toBeUndefined();
      expect((await p.outgoingClearMessageId(client, { messageId: 8 }))?.brokerCounter).toBe(1);
      expect((await p.outgoingClearMessageId(client, { messageId: 9 }))?.brokerCounter).toBe(2);
      await p.flushed();
      expect(p.queuedFor('sub').count).toBe(0);
      await p.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('QoS 1 packet ids restored after a restart', () => {
  const packet = (n: number): StoredPacket => ({ cmd: 'publish', topic: 't', payload: Buffer.from([n]), qos: 1, retain: false, dup: false, brokerId: 'B', brokerCounter: n });
  const open = (dir: string): OrderedLevelPersistence => new OrderedLevelPersistence({ db: new Level<string, Buffer>(dir, { valueEncoding: 'buffer' }), sync: 'batch' });

  it('never share an id with a new delivery: the new one moves to a free id, and each PUBACK clears its own message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-persist-collide-'));
    try {
      let p = open(dir);
      await p.setup({ id: 'B' });
      for (const n of [1, 2, 3]) await p.outgoingEnqueue({ clientId: 'sub' }, packet(n));
      // Sent under 7 and 8 and not acknowledged: the ids reach the disk (as after ID_WRITE_DELAY_MS).
      await p.outgoingUpdate({ id: 'sub' }, { ...packet(1), messageId: 7 });
      await p.outgoingUpdate({ id: 'sub' }, { ...packet(2), messageId: 8 });
      await p.flushed();
      await p.destroy();

      p = open(dir);
      await p.setup({ id: 'B2' });
      // aedes' client: a random first id per connection; here the restored 7 comes next.
      const client = { id: 'sub', _nextId: 7 };
      const left: StoredPacket[] = [];
      for await (const pk of p.outgoingStream(client)) left.push(pk as StoredPacket);
      expect(left.map((x) => [x.brokerCounter, x.messageId])).toEqual([
        [1, 7],
        [2, 8],
        [3, undefined],
      ]);
      expect(client._nextId).toBe(9); // past the last restored id
      // A delivery that got 7 anyway (aedes' counter wrapped, or a client object that does not count) is moved off it.
      const fresh = { ...packet(3), messageId: 7 };
      await p.outgoingUpdate(client, fresh);
      expect(fresh.messageId).toBe(9);
      expect(client._nextId).toBe(10);
      expect((await p.outgoingClearMessageId(client, { messageId: 7 }))?.brokerCounter).toBe(1);
      expect((await p.outgoingClearMessageId(client, { messageId: 9 }))?.brokerCounter).toBe(3);
      expect((await p.outgoingClearMessageId(client, { messageId: 8 }))?.brokerCounter).toBe(2);
      await p.flushed();
      expect(p.queuedFor('sub').count).toBe(0);
      await p.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('drop id entries on disk that name no queued message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-persist-stale-'));
    try {
      const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
      let p = new OrderedLevelPersistence({ db, sync: 'batch' });
      await p.setup({ id: 'B' });
      await p.outgoingEnqueue({ clientId: 'sub' }, packet(1));
      await p.outgoingUpdate({ id: 'sub' }, { ...packet(1), messageId: 7 });
      await p.flushed();
      await p.destroy();
      // What a crash between the bookkeeping writes leaves: the message gone, its id entry not.
      const raw = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
      await raw.del('outgoing:sub:B:0000000000000001');
      await raw.close();

      p = open(dir);
      await p.setup({ id: 'B2' });
      const left: StoredPacket[] = [];
      for await (const pk of p.outgoingStream({ id: 'sub' })) left.push(pk as StoredPacket);
      expect(left).toEqual([]);
      await p.flushed();
      await p.destroy();
      const check = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
      expect(await check.keys({ gte: 'outgoing-id:', lt: 'outgoing-id;' }).all()).toEqual([]);
      await check.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leave no id entry behind when the session expires while its ids are being written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-persist-expire-'));
    try {
      const p = open(dir);
      await p.setup({ id: 'B' });
      const client = { id: 'sub' };
      await p.addSubscriptions(client, [{ topic: 't', qos: 1 }]);
      p.touchSession('sub', 0);
      for (let n = 1; n <= 50; n++) {
        await p.outgoingEnqueue({ clientId: 'sub' }, packet(n));
        await p.outgoingUpdate(client, { ...packet(n), messageId: n });
      }
      // The slow subscriber's ids are queued for writing (as the 1 s timer does) as the sweep starts.
      const writing = p.flushed();
      expect(await p.expireSessions(1000, () => false, 10_000)).toEqual(['sub']);
      await writing;
      await p.flushed();
      await p.destroy();
      const check = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
      expect(await check.keys({ gte: 'outgoing', lt: 'outgoinh' }).all()).toEqual([]);
      await check.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the offline queue bound', () => {
  it('is enforced at open on a queue a crash (or a lower limit) left over it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-persist-bound-'));
    try {
      const open = (queueMax?: number): OrderedLevelPersistence =>
        new OrderedLevelPersistence({ db: new Level<string, Buffer>(dir, { valueEncoding: 'buffer' }), sync: 'batch', ...(queueMax ? { queueMax } : {}) });
      let p = open();
      await p.setup({ id: 'B' });
      for (let n = 1; n <= 300; n++)
        await p.outgoingEnqueue({ clientId: 'sub' }, { cmd: 'publish', topic: 't', payload: Buffer.from([n % 256]), qos: 1, retain: false, dup: false, brokerId: 'B', brokerCounter: n });
      await p.flushed();
      await p.destroy();
      p = open(100);
      await p.setup({ id: 'B2' });
      for (let i = 0; i < 100 && p.queuedFor('sub').count > 100; i++) await new Promise((r) => setTimeout(r, 20));
      await p.flushed();
      const left: StoredPacket[] = [];
      for await (const pk of p.outgoingStream({ id: 'sub' })) left.push(pk as StoredPacket);
      expect(left.length).toBe(100);
      expect(left[0]!.brokerCounter).toBe(201); // the oldest went
      await p.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a queued message the bound dropped before its delivery', () => {
  it('still goes out to an online subscriber at QoS 1 (aedes closed the connection on the refusal), and its PUBACK finds nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-persist-dropped-'));
    const p = new OrderedLevelPersistence({ db: new Level<string, Buffer>(dir, { valueEncoding: 'buffer' }), sync: 'batch', queueMax: 2 });
    try {
      await p.setup({ id: 'B' });
      const packet = (n: number): StoredPacket => ({ cmd: 'publish', topic: 't', payload: Buffer.from([n]), qos: 1, retain: false, dup: false, brokerId: 'B', brokerCounter: n });
      for (let n = 1; n <= 5; n++) await p.outgoingEnqueue({ clientId: 'sub' }, packet(n));
      for (let i = 0; i < 100 && p.stats.dropped < 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect(p.stats.dropped).toBe(3);
      const client = { id: 'sub', _nextId: 1 };
      await expect(p.outgoingUpdate(client, { ...packet(1), messageId: 1 })).resolves.toBeUndefined();
      await expect(p.outgoingUpdate(client, { ...packet(2), qos: 2, messageId: 2 })).rejects.toThrow(/no such packet/);
      expect(await p.outgoingClearMessageId(client, { messageId: 1 })).toBeUndefined();
      await p.outgoingUpdate(client, { ...packet(4), messageId: 3 });
      expect((await p.outgoingClearMessageId(client, { messageId: 3 }))?.brokerCounter).toBe(4);
      expect(p.queuedFor('sub').count).toBe(1);
    } finally {
      await p.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Makes every batch write fail as a full disk does; returns the real db.batch to put back. */
function failBatches(db: Level<string, Buffer>): unknown {
  const realBatch = db.batch.bind(db);
  const failing = { put: () => failing, del: () => failing, close: () => Promise.resolve(), write: () => Promise.reject(new Error('IO error: No space left on device')) };
  (db as unknown as { batch: unknown }).batch = () => failing;
  return realBatch;
}

describe('OrderedLevelPersistence after a failed write', () => {
  it('refuses the failed batch, reopens the database, reloads the subscription index from disk and takes writes again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-persist-fail-'));
    const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
    const errors: string[] = [];
    let recovered = 0;
    const p = new OrderedLevelPersistence({ db, sync: 'batch', reopenDelayMs: 5, onWriteError: (_e, phase) => errors.push(phase), onRecovered: () => recovered++ });
    try {
      await p.setup({ id: 'b1' });
      const client = { id: 'kiosk-1' };
      await p.addSubscriptions(client, [{ topic: 'store/S1/pos/#', qos: 1 }]);
      const realBatch = failBatches(db);
      // Neither the subscription nor the message is acknowledged...
      await expect(p.addSubscriptions(client, [{ topic: 'store/S1/devices/#', qos: 1 }])).rejects.toThrow(/No space/);
      (db as unknown as { batch: unknown }).batch = realBatch;
      for (let i = 0; i < 500 && recovered === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(recovered).toBe(1);
      expect(errors).toEqual(['write']);
      expect(p.recovering).toBe(false);
      // ...and the index follows the disk: the refused subscription is not matched.
      expect((await p.subscriptionsByTopic('store/S1/devices/x/state')).length).toBe(0);
      expect((await p.subscriptionsByTopic('store/S1/pos/sale')).map((s) => s.clientId)).toEqual(['kiosk-1']);
      // Writes work again and are on disk.
      await p.addSubscriptions(client, [{ topic: 'store/S1/box/#', qos: 1 }]);
      expect((await p.subscriptionsByClient(client)).map((s) => s.topic).sort()).toEqual(['store/S1/box/#', 'store/S1/pos/#']);
      expect(p.stats).toMatchObject({ failedBatches: 1, reopens: 1 });
    } finally {
      await p.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never acknowledges a message published while the index is being reloaded without queueing it for its subscriber', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-persist-reload-'));
    const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
    let recovered = 0;
    const p = new OrderedLevelPersistence({ db, sync: 'never', reopenDelayMs: 1, onRecovered: () => recovered++ });
    try {
      await p.setup({ id: 'b1' });
      // Many sessions, so reloading the index from disk spans many event-loop turns.
      for (let i = 0; i < 3000; i++) void p.addSubscriptions({ id: `other-${i}` }, [{ topic: `store/S1/other/${i}`, qos: 1 }]);
      await p.addSubscriptions({ id: 'kiosk-1' }, [{ topic: 'store/S1/pos/#', qos: 1 }]);
      const realBatch = failBatches(db);
      await expect(p.addSubscriptions({ id: 'x' }, [{ topic: 'a/b', qos: 1 }])).rejects.toThrow(/No space/);
      (db as unknown as { batch: unknown }).batch = realBatch;
      const unqueuedAcks: number[] = [];
      let n = 0;
      // What aedes does per QoS 1 publish: match, enqueue for the matches, PUBACK when that resolves.
      while (recovered === 0) {
        const packet = { cmd: 'publish', topic: 'store/S1/pos/sale', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, brokerId: 'b1', brokerCounter: ++n } as StoredPacket;
        const subs = await p.subscriptionsByTopic(packet.topic);
        const acked = await p.outgoingEnqueueCombi(subs, packet).then(
          () => true,
          () => false,
        );
        if (acked && !subs.some((s) => s.clientId === 'kiosk-1')) unqueuedAcks.push(n);
        await new Promise((r) => setImmediate(r));
      }
      expect(n).toBeGreaterThan(1);
      expect(unqueuedAcks).toEqual([]);
    } finally {
      await p.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
