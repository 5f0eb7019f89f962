import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { call, postSale, readJournal, startBox } from '../../harness/box.ts';
import { verifyJournal } from '../../appliance/journal/verify.ts';
import { clientIdempotencyKey } from '../../contract/ids.ts';

// The core promise of tillbox: a sale the till saw acknowledged exists exactly
// once, whatever happens to the process. A real box is killed with SIGKILL at
// random moments while 16 tills sell concurrently, then restarted on the same
// state dir, many times over.

const ROUNDS = 12;
const TILLS = 16;

interface Ack {
  id: string;
  seq: number;
}

describe('a box killed with SIGKILL during a burst of sales', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-crash-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged sale exactly once, with gap-free seq and a clock that never goes back', async () => {
    const acked = new Map<string, Ack>();
    const unknown = new Set<string>(); // in flight when the box died: outcome unknown to the till
    let sale: unknown;

    for (let round = 0; round < ROUNDS; round++) {
      const box = await startBox(dir);
      if (!sale) {
        const { items } = (await call(box.port, 'GET', '/api/v1/catalog')).json<{ items: Array<{ sku: string; price: number | { amount: number }; soldByWeight?: boolean }> }>();
        const item = items.find((i) => !i.soldByWeight)!;
        const price = typeof item.price === 'number' ? item.price : item.price.amount;
        sale = { lines: [{ sku: item.sku, qty: 1 }], tenders: [{ type: 'cash', amount: price }] };
      }
      // A till that did not hear back retries with the same key after restart.
      for (const key of unknown) {
        const r = await postSale(box.port, key, sale);
        expect([200, 201]).toContain(r.status);
        acked.set(key, { id: r.json().id, seq: r.json().seq });
      }
      unknown.clear();

      let stop = false;
      const tills = Array.from({ length: TILLS }, async (_, t) => {
        for (let i = 0; !stop; i++) {
          const key = `r${round}-t${t}-${i}`;
          unknown.add(key);
          let r: Awaited<ReturnType<typeof postSale>>;
          try {
            r = await postSale(box.port, key, sale);
          } catch {
            return; // connection reset or refused: the box died under us
          }
          if (r.status !== 201) throw new Error(`unexpected ${r.status}: ${r.body}`);
          const body = r.json<{ id: string; seq: number }>();
          acked.set(key, { id: body.id, seq: body.seq });
          unknown.delete(key);
        }
      });
      await sleep(150 + Math.floor(Math.random() * 600));
      await box.kill();
      stop = true;
      await Promise.all(tills);
    }

    const box = await startBox(dir);
    try {
      for (const key of unknown) {
        const r = await postSale(box.port, key, sale);
        acked.set(key, { id: r.json().id, seq: r.json().seq });
      }
      const events = await readJournal(box.port);
      const byKey = new Map<string, number>();
      for (const e of events) byKey.set(clientIdempotencyKey(e.idempotencyKey), (byKey.get(clientIdempotencyKey(e.idempotencyKey)) ?? 0) + 1);

      expect(acked.size).toBeGreaterThan(ROUNDS * TILLS);
      for (const [key, ack] of acked) {
        expect(byKey.get(key), `acknowledged sale ${key}`).toBe(1);
        const e = events.find((x) => clientIdempotencyKey(x.idempotencyKey) === key)!;
        expect({ id: e.id, seq: e.seq }).toEqual(ack);
      }
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      for (let i = 1; i < events.length; i++) expect(events[i]!.hlc > events[i - 1]!.hlc).toBe(true);
    } finally {
      await box.kill();
    }
    const result = await verifyJournal({ dir: join(dir, 'journal') });
    expect(result.state, result.message).toBe('ok');
  }, 180_000);
});
