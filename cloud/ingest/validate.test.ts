import { describe, expect, it } from 'vitest';
import { FakeBox } from '../testing.ts';
import { checkBatch } from './validate.ts';

describe('checkBatch', () => {
  const box = new FakeBox({ deviceId: 'box-v' });
  const sale = box.sale([{ sku: 'MILK' }]);
  box.sale([{ sku: 'MILK' }]);
  box.adjust('MILK', 3);

  it('accepts a well-formed batch', () => {
    expect(checkBatch('box-v', JSON.stringify(box.batch(1, 3)))).toMatchObject({ ok: true });
  });

  it('names what is wrong, with the batch id when it has one', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...box.batch(1, 1), v: 2 }, /\/v /],
      [{ ...box.batch(1, 1), events: [] }, /\/events must NOT have fewer than 1 items/],
      [{ ...box.batch(1, 1), extra: 1 }, /additional properties \(extra\)/],
      [{ ...box.batch(1, 1), deviceId: 'other' }, /does not match the topic/],
      [{ ...box.batch(1, 1), storeId: 'other' }, /storeId store-1 is not the batch's/],
      [box.batchOf([box.events[0]!, box.events[2]!]), /must be contiguous/],
      [box.batchOf([box.events[1]!, box.events[0]!], 'live'), /not ascending/],
      [box.batchOf([{ ...sale, payload: { ...sale.payload, cardNumber: '4111' } }]), /sale payload: \/payload must NOT have additional properties \(cardNumber\)/],
      [box.batchOf([{ ...sale, hlc: 'yesterday' }]), /\/events\/0\/hlc must match pattern/],
    ];
    for (const [batch, reason] of cases) {
      const r = checkBatch('box-v', JSON.stringify(batch));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.reason).toMatch(reason);
        expect(r.batchId).toEqual((batch as { batchId: string }).batchId);
      }
    }
    expect(checkBatch('box-v', '[1,2')).toEqual({ ok: false, reason: 'payload is not JSON' });
    expect(checkBatch('box-v', 'null')).toMatchObject({ ok: false });
  });

  it('allows gaps between live-lane events (they are applied individually)', () => {
    expect(checkBatch('box-v', JSON.stringify(box.batchOf([box.events[0]!, box.events[2]!], 'live')))).toMatchObject({ ok: true });
  });
});
