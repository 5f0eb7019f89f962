import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CoalescedWriter } from './durable-file.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function file(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-durable-'));
  dirs.push(dir);
  return join(dir, 'state.json');
}

const read = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as unknown;

describe('CoalescedWriter', () => {
  it('writes the first save at once, holds later saves for the write interval, and flush writes the latest now', async () => {
    const f = file();
    let value = 1;
    const errors: unknown[] = [];
    const w = new CoalescedWriter(
      f,
      () => ({ value }),
      (err) => errors.push(err),
      { minIntervalMs: 600_000 },
    );
    await w.save();
    expect(read(f)).toEqual({ value: 1 });
    value = 2;
    const second = w.save();
    value = 3;
    const third = w.save();
    await new Promise((r) => setImmediate(r));
    expect(read(f)).toEqual({ value: 1 });
    await w.flush();
    expect(read(f)).toEqual({ value: 3 });
    await Promise.all([second, third]);
    expect(errors).toEqual([]);
  });

  it('without an interval writes each coalesced save as soon as the previous write is done', async () => {
    const f = file();
    let value = 0;
    const w = new CoalescedWriter(
      f,
      () => ({ value }),
      () => {},
    );
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 5; i++) {
      value = i;
      saves.push(w.save());
    }
    await Promise.all(saves);
    expect(read(f)).toEqual({ value: 5 });
  });
});
