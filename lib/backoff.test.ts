import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.ts';

describe('Backoff (exponential, full jitter)', () => {
  it('draws each delay uniformly below a ceiling that doubles up to the cap', () => {
    const draws = [0.999, 0.5, 0, 0.999, 0.999, 0.999, 0.999];
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => draws.shift()! });
    expect([b.ceiling(), b.next()]).toEqual([100, 99]);
    expect([b.ceiling(), b.next()]).toEqual([200, 100]);
    expect([b.ceiling(), b.next()]).toEqual([400, 0]);
    expect([b.ceiling(), b.next()]).toEqual([800, 799]);
    expect([b.ceiling(), b.next()]).toEqual([1000, 999]);
    b.reset();
    expect(b.ceiling()).toBe(100);
  });

  it('spreads a fleet: delays of many boxes at the same attempt are not equal', () => {
    const delays = Array.from({ length: 50 }, () => {
      const b = new Backoff({ baseMs: 500, maxMs: 60_000 });
      for (let i = 0; i < 5; i++) b.next();
      return b.next();
    });
    expect(new Set(delays).size).toBeGreaterThan(40);
    expect(Math.max(...delays)).toBeLessThan(16_000);
  });

  it('refuses nonsense bounds', () => {
    expect(() => new Backoff({ baseMs: 0, maxMs: 10 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: 10, maxMs: 5 })).toThrow(RangeError);
  });
});
