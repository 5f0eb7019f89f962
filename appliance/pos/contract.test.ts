import { afterEach, describe, expect, it } from 'vitest';
import { POS_EVENT_PAYLOADS, POS_EVENT_TYPES, type Actor } from '../../contract/pos.ts';
import { isValidId, localTopics } from '../../contract/topics.ts';
import { card, cash, startPos, type PosHarness } from './testing.ts';
import { validator } from './validate.ts';

const harnesses: PosHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

describe('POS event contract', () => {
  it('every event type is one valid MQTT topic segment', () => {
    for (const type of POS_EVENT_TYPES) {
      expect(isValidId(type), type).toBe(true);
      expect(localTopics.posEvent('demo-store', type)).toBe(`store/demo-store/pos/${type}`);
    }
  });

  it('every event the service writes matches its published payload schema exactly', async () => {
    const h = await startPos();
    harnesses.push(h);
    const boss: Actor = { name: 'boss', role: 'manager' };
    const { value: sale } = await h.pos.sell(
      {
        lines: [
          { sku: 'MILK-1L', qty: 2 },
          { sku: 'CARROT', weightGrams: 640 },
        ],
        tenders: [card(200), cash(500)],
      },
      'e1',
    );
    await h.pos.refund({ saleId: sale.id, lines: [{ line: 0, qty: 1, restock: false }], tenders: [cash(119)], reason: 'dented' }, 'e2');
    const { value: other } = await h.pos.sell({ lines: [{ sku: 'OJ-1L', qty: 1 }], tenders: [cash(189)] }, 'e3');
    await h.pos.void({ saleId: other.id, reason: 'test' }, 'e4');
    await h.pos.adjustInventory({ sku: 'OJ-1L', delta: -1, reason: 'count', note: 'shelf 3' }, 'e5');
    await h.pos.overridePrice({ sku: 'OJ-1L', price: 150, reason: 'expiring' }, 'e6', boss);
    await h.pos.openDrawer({ reason: 'sale', saleId: sale.id }, 'e7');
    const events = await h.journal.read({ after: 0, limit: 100 });
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(POS_EVENT_TYPES));
    for (const e of events) {
      const schema = POS_EVENT_PAYLOADS[e.type as keyof typeof POS_EVENT_PAYLOADS];
      expect(() => validator(schema, `${e.type} payload`)(e.payload), e.type).not.toThrow();
    }
    const salePayload = events[0]!.payload as { total: number; tax: number; net: number; taxes: Array<{ gross: number }> };
    expect(salePayload.net + salePayload.tax).toBe(salePayload.total);
    expect(salePayload.taxes.reduce((a, t) => a + t.gross, 0)).toBe(salePayload.total);
  });
});
