import { describe, expect, it } from 'vitest';
import { canonicalJson } from './hash.ts';
import { decodeRecord, encodeRecord } from './record.ts';
import type { JournalEvent } from './types.ts';

const event: JournalEvent = {
  id: '0190a1b2-0000-7000-8000-000000000001',
  deviceId: 'box-1',
  storeId: 'store-1',
  seq: 7,
  hlc: '000001900000000-0000-box-1',
  type: 'sale',
  payload: { total: 250, lines: [{ sku: 'BANANA', qty: 1, weightGrams: 310 }] },
  idempotencyKey: 'k7',
  recordedAt: '2026-12-07T12:00:00.000Z',
};

describe('journal record codec', () => {
  it('decodes a record as encodeRecord stores it to the event it stored', () => {
    const { value, stored } = encodeRecord(event, 'h'.repeat(64));
    const decoded = decodeRecord(value, 7);
    expect(decoded).toEqual({ ok: true, record: { v: 1, event: stored, requestHash: 'h'.repeat(64), checksum: expect.any(String) } });
  });

  it('still verifies a record whose text is not in the stored layout, against its canonical form', () => {
    const { value } = encodeRecord(event, 'req');
    const parsed = JSON.parse(value) as { checksum: string; event: JournalEvent; requestHash: string; v: number };
    // Same values, other key order and spacing: the bytes differ, the canonical form does not.
    const reordered = JSON.stringify({ v: parsed.v, requestHash: parsed.requestHash, event: { ...parsed.event }, checksum: parsed.checksum }, null, 1);
    expect(reordered).not.toBe(value);
    const decoded = decodeRecord(reordered, 7);
    expect(decoded.ok).toBe(true);
    expect(canonicalJson(decoded.ok ? decoded.record.event : undefined)).toBe(canonicalJson(event));
  });

  it('refuses a record whose event changed after it was written, in either layout', () => {
    const { value } = encodeRecord(event, 'req');
    const tampered = value.replace('"total":250', '"total":251');
    expect(tampered).not.toBe(value);
    expect(decodeRecord(tampered, 7)).toEqual({ ok: false, reason: 'checksum mismatch' });
    const parsed = JSON.parse(tampered) as Record<string, unknown>;
    expect(decodeRecord(JSON.stringify(parsed, null, 1), 7)).toEqual({ ok: false, reason: 'checksum mismatch' });
  });

  it('refuses a record whose checksum head is damaged', () => {
    const { value } = encodeRecord(event, 'req');
    const damaged = `${value.slice(0, 13)}${value[13] === '0' ? '1' : '0'}${value.slice(14)}`;
    expect(decodeRecord(damaged, 7)).toEqual({ ok: false, reason: 'checksum mismatch' });
  });
});
