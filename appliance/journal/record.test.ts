import { describe, expect, it } from 'vitest';
import { canonicalJson } from './hash.ts';
import { decodeRecord, encodeRecord, storedEventText } from './record.ts';
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

describe('storedEventText (the sync lane reads events without decoding them)', () => {
  const tricky: JournalEvent = {
    ...event,
    seq: 42,
    // A nested "seq", a string holding the text of one, integer-like keys (which JSON.parse reorders) and non-ASCII.
    payload: { seq: 9, note: 'x","seq":41,"y":"', lines: { '10': 'a', '2': 'b' }, name: 'Crème brûlée ☕', tail: { requestHash: ',"requestHash":"', v: 1 } },
    storeId: 'store "seq":1',
  };

  it('gives the canonical event text the writer hashed, the same JSON value decodeRecord gives', () => {
    for (const [e, hashText] of [
      [event, 'h'.repeat(64)],
      [tricky, 'req'],
      [tricky, 'a "quoted" \\ request hash'],
    ] as const) {
      const { value } = encodeRecord(e, hashText);
      const text = storedEventText(value, e.seq);
      expect(text).toBe(canonicalJson(e));
      const decoded = decodeRecord(value, e.seq);
      expect(decoded.ok && JSON.parse(text!)).toEqual(decoded.ok && decoded.record.event);
    }
  });

  it('gives nothing for a record stored under another seq, in another layout, changed or cut short', () => {
    const { value } = encodeRecord(tricky, 'req');
    expect(storedEventText(value, 41)).toBeUndefined();
    expect(storedEventText(value, 9)).toBeUndefined();
    const parsed = JSON.parse(value) as Record<string, unknown>;
    expect(storedEventText(JSON.stringify({ v: parsed.v, requestHash: parsed.requestHash, event: parsed.event, checksum: parsed.checksum }), 42)).toBeUndefined();
    expect(storedEventText(value.replace('"seq":42', '"seq":43'), 43)).toBeUndefined();
    expect(storedEventText(value.replace('brûlée', 'brulee'), 42)).toBeUndefined();
    expect(storedEventText(value.slice(0, -1), 42)).toBeUndefined();
    expect(storedEventText(value.replace('"v":1}', '"v":2}'), 42)).toBeUndefined();
  });

  it('never accepts a damaged record that decodeRecord refuses, and agrees with it on every one it accepts (fuzz)', () => {
    let seed = 0x2545f491;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const { value } = encodeRecord(tricky, 'req');
    const alphabet = '"{}[],:\\0123456789abcdefseqv ';
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      let raw = value;
      for (let k = 1 + rand(3); k > 0; k--) {
        const at = rand(raw.length);
        const op = rand(3);
        const ch = alphabet[rand(alphabet.length)]!;
        raw = op === 0 ? raw.slice(0, at) + ch + raw.slice(at + 1) : op === 1 ? raw.slice(0, at) + raw.slice(at + 1) : raw.slice(0, at) + ch + raw.slice(at);
      }
      const seq = rand(4) === 0 ? 41 : 42;
      const text = storedEventText(raw, seq);
      if (text === undefined) continue;
      accepted += 1;
      const decoded = decodeRecord(raw, seq);
      expect(decoded.ok).toBe(true);
      expect(JSON.parse(text)).toEqual(decoded.ok && decoded.record.event);
    }
    // Only mutations that leave the record as it was (a character replaced by itself) can pass.
    expect(accepted).toBeLessThan(100);
  });
});
