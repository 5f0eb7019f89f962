import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CoalescedWriter } from './durable-file.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('CoalescedWriter', () => {
  it('with a minimum interval, changes after a write wait for the next slot as one write, and flush writes them at once', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tillbox-coalesced-'));
    const file = join(dir, 'state.json');
    let value = 0;
    let snapshots = 0;
    const w = new CoalescedWriter(
      file,
      () => (snapshots++, { value }),
      (err) => {
        throw err;
      },
      { minIntervalMs: 3_600_000 },
    );
    value = 1;
    await w.save(); // the first write after a quiet spell is not delayed
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ value: 1 });
    for (value = 2; value <= 10; value++) void w.save();
    await new Promise((r) => setImmediate(r));
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ value: 1 });
    await w.flush();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ value: 11 });
    expect(snapshots).toBe(2);
  });
});
