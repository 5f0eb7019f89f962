import { describe, expect, it } from 'vitest';
import { canonicalJson, requestHash } from './hash.ts';

describe('canonicalJson and requestHash', () => {
  it('hashes the same request the same regardless of key order', () => {
    const a = { lines: [{ sku: 'A', qty: 2 }], tenders: [{ type: 'cash', amount: 500 }] };
    const b = { tenders: [{ amount: 500, type: 'cash' }], lines: [{ qty: 2, sku: 'A' }] };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(requestHash(a)).toBe(requestHash(b));
    expect(requestHash(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('hashes a different body differently', () => {
    expect(requestHash({ qty: 1 })).not.toBe(requestHash({ qty: 2 }));
    expect(requestHash([1, 2])).not.toBe(requestHash([2, 1]));
  });

  it('drops undefined properties like JSON.stringify and refuses non-finite numbers', () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson({ a: 1n })).toThrow(/bigint/);
  });
});
