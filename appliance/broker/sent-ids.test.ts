import { describe, expect, it } from 'vitest';
import { SentIds } from './sent-ids.ts';

describe('the index of QoS 1 packet ids', () => {
  it('hands out for writing only the entries sent at or before the cutoff, oldest first, each once', () => {
    const s = new SentIds();
    s.set('sub', 1, 'k1', 100, false);
    s.set('sub', 2, 'k2', 200, false);
    s.set('sub', 3, 'k3', 300, false);
    expect(s.takeUnwritten(200).map((e) => e.messageId)).toEqual([1, 2]);
    expect(s.takeUnwritten(200)).toEqual([]);
    expect(s.pending).toBe(true);
    expect(s.takeUnwritten(Number.POSITIVE_INFINITY).map((e) => e.messageId)).toEqual([3]);
    expect(s.pending).toBe(false);
    expect(s.get('sub', 1)?.onDisk).toBe(true);
  });

  it('never hands out an entry that was acknowledged or resent under another id', () => {
    const s = new SentIds();
    const acked = s.set('sub', 1, 'k1', 100, false);
    s.set('sub', 2, 'k2', 100, false);
    s.delete(acked);
    s.set('sub', 9, 'k2', 150, false); // k2 resent as 9
    expect(s.get('sub', 2)).toBeUndefined();
    expect(s.ofKey('k2')?.messageId).toBe(9);
    expect(s.takeUnwritten(1000).map((e) => [e.messageId, e.okey])).toEqual([[9, 'k2']]);
  });

  it('keeps entries known to be on disk out of the writes, and drops a whole client', () => {
    const s = new SentIds();
    s.set('a', 1, 'ka', 0, true);
    s.set('b', 1, 'kb', 50, false);
    expect(s.pending).toBe(true);
    s.dropClient('b');
    expect(s.pending).toBe(false);
    expect(s.takeUnwritten(1000)).toEqual([]);
    expect(s.get('a', 1)?.okey).toBe('ka');
  });

  it('finds a free packet id counting up from the one asked for, wrapping from 65535 to 1', () => {
    const s = new SentIds();
    s.set('sub', 65535, 'ka', 0, true);
    s.set('sub', 1, 'kb', 0, true);
    s.set('other', 2, 'kc', 0, true);
    expect(s.freeId('sub', 65535)).toBe(2);
    expect(s.freeId('sub', 7)).toBe(7);
    expect(s.freeId('nobody', 0)).toBe(1);
  });

  it('marks an entry found on disk as written: no write for it, and it counts as on disk when dropped', () => {
    const s = new SentIds();
    const e = s.set('sub', 4, 'k4', 10, false);
    s.markOnDisk(e);
    expect(s.pending).toBe(false);
    expect(s.takeUnwritten(1000)).toEqual([]);
    expect(s.get('sub', 4)?.onDisk).toBe(true);
  });
});
