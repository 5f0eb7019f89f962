import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync } from './atomic-file.ts';

describe('atomic files', () => {
  let dir: string;
  let umask: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tillbox-atomic-'));
    // The image's units run with UMask=0077.
    umask = process.umask(0o077);
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  });

  const modeOf = (file: string) => statSync(file).mode & 0o777;

  it('gives a file the mode asked for, whatever the umask, in both forms', async () => {
    writeFileAtomicSync(join(dir, 'sync.json'), '{}', { durability: 'crash-safe', mode: 0o644 });
    await writeFileAtomic(join(dir, 'async.json'), '{}', { durability: 'durable', mode: 0o644 });
    expect(modeOf(join(dir, 'sync.json'))).toBe(0o644);
    expect(modeOf(join(dir, 'async.json'))).toBe(0o644);
  });

  it('makes a file 0600 when no mode is asked for', async () => {
    process.umask(0o022);
    writeFileAtomicSync(join(dir, 'a'), 'x', { durability: 'durable' });
    await writeFileAtomic(join(dir, 'b'), 'x', { durability: 'durable' });
    expect(modeOf(join(dir, 'a'))).toBe(0o600);
    expect(modeOf(join(dir, 'b'))).toBe(0o600);
  });

  it('replaces an existing file whole and leaves no temporary file behind', async () => {
    const file = join(dir, 'state.json');
    writeFileSync(file, 'old');
    await writeFileAtomic(file, 'new', { durability: 'durable', mode: 0o640 });
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(modeOf(file)).toBe(0o640);
    expect(readFileSync(file).length).toBe(3);
  });
});
