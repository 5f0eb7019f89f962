import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../contract/errors.ts';
import { silentLogger } from '../log.ts';
import { RESERVE_FILE, StorageGuard } from './storage-guard.ts';

const MB = 1048576;

describe('StorageGuard', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  function guard(free: { bytes: number }) {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-guard-'));
    dirs.push(dir);
    const g = new StorageGuard({
      dir,
      minFreeBytes: 64 * MB,
      reserveBytes: 2 * MB,
      checkIntervalMs: 60_000,
      log: silentLogger(),
      statfs: () => ({ freeBytes: free.bytes, totalBytes: 10_000 * MB }),
    });
    return { g, dir };
  }

  it('holds a reserve while space is fine, refuses below the threshold and releases the reserve, and resumes only with room for the reserve again', async () => {
    const free = { bytes: 500 * MB };
    const { g, dir } = guard(free);
    const changes: string[] = [];
    g.onChange((s) => changes.push(s.state));
    await g.start();
    expect(g.refusal()).toBeUndefined();
    expect(statSync(join(dir, RESERVE_FILE)).size).toBe(2 * MB);

    free.bytes = 63 * MB;
    await g.check();
    expect(g.refusal()?.code).toBe(ErrorCode.DiskFull);
    expect(g.refusal()?.retryable).toBe(true);
    expect(existsSync(join(dir, RESERVE_FILE))).toBe(false);

    // Above the threshold but not above threshold + reserve: still full (hysteresis).
    free.bytes = 65 * MB;
    await g.check();
    expect(g.full).toBe(true);

    free.bytes = 80 * MB;
    await g.check();
    expect(g.full).toBe(false);
    expect(existsSync(join(dir, RESERVE_FILE))).toBe(true);
    expect(changes).toEqual(['full', 'ok']);
    expect(g.status.fullEpisodes).toBe(1);
    await g.stop();
  });

  it('caps threshold and reserve to a small filesystem so a tiny disk can still sell', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-guard-'));
    dirs.push(dir);
    const g = new StorageGuard({ dir, minFreeBytes: 64 * MB, reserveBytes: 16 * MB, checkIntervalMs: 60_000, log: silentLogger(), statfs: () => ({ freeBytes: 20 * MB, totalBytes: 24 * MB }) });
    await g.start();
    expect(g.full).toBe(false);
    expect(g.status.minFreeBytes).toBe(Math.floor(2.4 * MB));
    expect(g.status.reserveBytes).toBe(Math.floor(1.2 * MB));
    await g.stop();
  });
});
