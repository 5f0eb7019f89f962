import { describe, expect, it } from 'vitest';
import { HybridClock, compareHlc, encodeHlc, parseHlc } from './hlc.ts';

function manualClock(start: number): { now: () => number; set: (ms: number) => void } {
  let t = start;
  return { now: () => t, set: (ms) => (t = ms) };
}

function strictlyIncreasing(stamps: string[]): boolean {
  return stamps.every((s, i) => i === 0 || compareHlc(stamps[i - 1]!, s) < 0);
}

describe('HybridClock', () => {
  it('follows the wall clock while it moves forward', () => {
    const wall = manualClock(1_700_000_000_000);
    const clock = new HybridClock({ deviceId: 'dev-a', now: wall.now });
    const a = clock.now();
    wall.set(1_700_000_000_500);
    const b = clock.now();
    expect(parseHlc(a)).toEqual({ wallMs: 1_700_000_000_000, counter: 0, deviceId: 'dev-a' });
    expect(parseHlc(b)).toEqual({ wallMs: 1_700_000_000_500, counter: 0, deviceId: 'dev-a' });
  });

  it('counts within one millisecond so stamps stay distinct', () => {
    const wall = manualClock(1_700_000_000_000);
    const clock = new HybridClock({ deviceId: 'dev-a', now: wall.now });
    const stamps = Array.from({ length: 1000 }, () => clock.now());
    expect(strictlyIncreasing(stamps)).toBe(true);
    expect(parseHlc(stamps[999]!)?.counter).toBe(999);
  });

  it('never goes back when the wall clock jumps back minutes', () => {
    const wall = manualClock(1_700_000_000_000);
    const clock = new HybridClock({ deviceId: 'dev-a', now: wall.now });
    const stamps = [clock.now()];
    wall.set(1_700_000_000_000 - 5 * 60_000);
    for (let i = 0; i < 10; i++) stamps.push(clock.now());
    wall.set(1_700_000_000_000 + 5 * 60_000);
    stamps.push(clock.now());
    wall.set(1_700_000_000_000 - 60 * 60_000);
    stamps.push(clock.now());
    expect(strictlyIncreasing(stamps)).toBe(true);
    // While the wall clock is behind, the physical part holds and the counter advances.
    expect(parseHlc(stamps[10]!)).toMatchObject({ wallMs: 1_700_000_000_000, counter: 10 });
    expect(parseHlc(stamps[11]!)).toMatchObject({ wallMs: 1_700_000_000_000 + 5 * 60_000, counter: 0 });
    expect(clock.lagMs()).toBe(65 * 60_000);
  });

  it('continues above the persisted stamp after a restart with an earlier clock', () => {
    const wall = manualClock(1_700_000_000_000);
    const before = new HybridClock({ deviceId: 'dev-a', now: wall.now });
    before.now();
    const persisted = before.now();
    wall.set(1_600_000_000_000); // the box reboots with a dead RTC battery
    const after = new HybridClock({ deviceId: 'dev-a', now: wall.now, last: persisted });
    const next = after.now();
    expect(compareHlc(persisted, next)).toBeLessThan(0);
  });

  it('orders after a remote stamp it receives, even one from the future', () => {
    const wall = manualClock(1_700_000_000_000);
    const clock = new HybridClock({ deviceId: 'dev-a', now: wall.now });
    const local = clock.now();
    const remote = encodeHlc({ wallMs: 1_700_000_090_000, counter: 7, deviceId: 'hq' });
    const merged = clock.receive(remote);
    expect(compareHlc(local, merged)).toBeLessThan(0);
    expect(compareHlc(remote, merged)).toBeLessThan(0);
    expect(parseHlc(merged)).toMatchObject({ wallMs: 1_700_000_090_000, counter: 8 });
    expect(compareHlc(merged, clock.now())).toBeLessThan(0);
  });

  it('ignores an older remote stamp except to tick', () => {
    const wall = manualClock(1_700_000_000_000);
    const clock = new HybridClock({ deviceId: 'dev-a', now: wall.now });
    const local = clock.now();
    const merged = clock.receive(encodeHlc({ wallMs: 1_000, counter: 99, deviceId: 'hq' }));
    expect(compareHlc(local, merged)).toBeLessThan(0);
    expect(parseHlc(merged)).toMatchObject({ wallMs: 1_700_000_000_000, counter: 1 });
  });

  it('encodes so that string order equals numeric order', () => {
    const a = encodeHlc({ wallMs: 999, counter: 5, deviceId: 'x' });
    const b = encodeHlc({ wallMs: 1000, counter: 0, deviceId: 'x' });
    const c = encodeHlc({ wallMs: 1000, counter: 10, deviceId: 'x' });
    expect([c, b, a].sort()).toEqual([a, b, c]);
  });

  it('breaks ties between devices by device id and parses ids containing dashes', () => {
    const a = encodeHlc({ wallMs: 1, counter: 1, deviceId: 'box-a-1' });
    expect(parseHlc(a)).toEqual({ wallMs: 1, counter: 1, deviceId: 'box-a-1' });
    expect(compareHlc(a, encodeHlc({ wallMs: 1, counter: 1, deviceId: 'box-b-1' }))).toBeLessThan(0);
    expect(parseHlc('garbage')).toBeUndefined();
  });
});
