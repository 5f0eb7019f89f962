import { closeSync, fsyncSync, openSync, readFileSync, writeSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseFaultFs, FaultFs } from './faultfs.ts';

// The fault harness is itself tested: a power cut must lose exactly the data
// that was not fsync'd, or every test built on it proves nothing.
describe.skipIf(!canUseFaultFs)('faultfs (LazyFS-style power cuts; needs root and /dev/fuse)', () => {
  const fs = new FaultFs();
  beforeAll(() => fs.mount());
  afterAll(() => fs.destroy());

  it('keeps fsynced data and loses unsynced data at a power cut, while reads before it see both', async () => {
    const file = join(fs.mountpoint, 'log');
    const fd = openSync(file, 'w');
    writeSync(fd, 'durable|');
    fsyncSync(fd);
    writeSync(fd, 'volatile');
    closeSync(fd);
    expect(readFileSync(file, 'utf8')).toBe('durable|volatile');
    await fs.powerCut();
    expect(readFileSync(file, 'utf8')).toBe('durable|');
  });

  it('keeps a rename at once but not the unsynced content of the renamed file', async () => {
    const tmp = join(fs.mountpoint, 'a.tmp');
    const fd = openSync(tmp, 'w');
    writeSync(fd, 'never synced');
    closeSync(fd);
    renameSync(tmp, join(fs.mountpoint, 'a'));
    await fs.powerCut();
    expect(existsSync(join(fs.mountpoint, 'a'))).toBe(true);
    expect(readFileSync(join(fs.mountpoint, 'a'), 'utf8')).toBe('');
  });

  it("forgets a replaced file's unsynced data, so a later file that reuses its inode number never shows it", async () => {
    const write = (name: string, text: string): void => {
      const fd = openSync(join(fs.mountpoint, name), 'w');
      writeSync(fd, text);
      closeSync(fd);
    };
    const before = (await fs.stats()).pending_bytes;
    write('state.json', 'x'.repeat(100));
    write('state.json.tmp', 'new');
    renameSync(join(fs.mountpoint, 'state.json.tmp'), join(fs.mountpoint, 'state.json'));
    expect((await fs.stats()).pending_bytes - before).toBe(3);
  });

  it("fails the Nth write with ENOSPC and an fsync with EIO, dropping that file's unsynced data", async () => {
    const fd = openSync(join(fs.mountpoint, 'b'), 'w');
    await fs.control('fail write 2 ENOSPC');
    writeSync(fd, 'one');
    expect(() => writeSync(fd, 'two')).toThrow(/ENOSPC/);
    await fs.control('fail fsync 1 EIO');
    expect(() => fsyncSync(fd)).toThrow(/EIO/);
    // A retried fsync "succeeds", but the data is gone, as on Linux after a failed writeback.
    fsyncSync(fd);
    closeSync(fd);
    await fs.powerCut();
    expect(readFileSync(join(fs.mountpoint, 'b'), 'utf8')).toBe('');
    expect((await fs.stats()).injected).toBe(0); // counters restart with the remount
  });
});
