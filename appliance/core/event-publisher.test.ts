import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Journal, JournalEvent } from '../journal/types.ts';
import { silentLogger } from '../log.ts';
import { EventPublisher, readPublishCursor } from './event-publisher.ts';

// A journal of `n` events and a broker whose publishes settle when the test says.
function rig() {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-publisher-'));
  const events: JournalEvent[] = [];
  const listeners = new Set<(e: JournalEvent) => void>();
  const journal = {
    read: async ({ after = 0, limit = 500 }: { after?: number; limit?: number } = {}) => events.filter((e) => e.seq > after).slice(0, limit),
    onCommit: (l: (e: JournalEvent) => void) => (listeners.add(l), () => listeners.delete(l)),
  } as unknown as Journal;
  const commit = () => {
    const e = { id: `e${events.length + 1}`, seq: events.length + 1, type: 'sale', payload: {} } as unknown as JournalEvent;
    events.push(e);
    for (const l of listeners) l(e);
  };
  const calls: Array<{ seq: number; settle: (err?: Error) => void }> = [];
  const publisher = new EventPublisher({
    journal,
    storeId: 's1',
    cursorFile: join(dir, 'cursor'),
    log: silentLogger(),
    retryBaseMs: 1,
    publish: (_topic, payload) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ seq: (JSON.parse(payload) as JournalEvent).seq, settle: (err) => (err ? reject(err) : resolve()) });
      }),
  });
  return { dir, commit, calls, publisher, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const tick = () => new Promise((r) => setImmediate(r));
let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

describe('EventPublisher', () => {
  it('hands consecutive events to the broker without waiting for each (they can share its fsync), and moves the cursor in seq order', async () => {
    const r = rig();
    cleanup = r.cleanup;
    await r.publisher.start();
    for (let i = 0; i < 3; i++) r.commit();
    await tick();
    expect(r.calls.map((c) => c.seq)).toEqual([1, 2, 3]);
    r.calls[1]!.settle();
    await tick();
    expect(r.publisher.cursor).toBe(0); // seq 1 still pending: 2 does not count yet
    r.calls[0]!.settle();
    r.calls[2]!.settle();
    await tick();
    expect(r.publisher.cursor).toBe(3);
  });

  it('a publish that fails in the middle of a window is resent, with everything after it, in order; the cursor never passes it', async () => {
    const r = rig();
    cleanup = r.cleanup;
    await r.publisher.start();
    for (let i = 0; i < 3; i++) r.commit();
    await tick();
    r.calls[0]!.settle();
    r.calls[1]!.settle(new Error('broker store full'));
    r.calls[2]!.settle();
    await tick();
    expect(r.publisher.cursor).toBe(1);
    while (r.calls.length < 5) await tick(); // the catch-up after the retry delay
    expect(r.calls.slice(3).map((c) => c.seq)).toEqual([2, 3]);
    for (const c of r.calls.slice(3)) c.settle();
    const stopped = r.publisher.stop();
    await stopped;
    expect(r.publisher.cursor).toBe(3);
    expect(readPublishCursor(join(r.dir, 'cursor'))).toBe(3);
  });
});
