import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PENDING_PAIRINGS_MAX } from '../../contract/enrolment.ts';
import { EnrolmentRegistry } from './registry.ts';

describe('the enrolment registry', () => {
  it('keeps at most PENDING_PAIRINGS_MAX unapproved codes, in memory only, oldest out first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-registry-'));
    try {
      const file = join(dir, 'registry.json');
      const r = new EnrolmentRegistry({ file });
      for (let i = 0; i < PENDING_PAIRINGS_MAX + 100; i++) await r.seePairing(`C${String(i).padStart(5, '0')}`, `box-${i}`, '10.0.0.1', `h${i}`);
      const pending = r.pairings('pending');
      expect(pending.length).toBe(PENDING_PAIRINGS_MAX);
      expect(pending[0]!.deviceId).toBe('box-100');
      // Unauthenticated requests wrote nothing to disk.
      expect(existsSync(file)).toBe(false);
      await r.approvePairing(pending[0]!.code, 'store-1');
      expect(JSON.parse(readFileSync(file, 'utf8')).pairings.some((p: { status: string }) => p.status === 'approved')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps saving after a failed write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-registry-'));
    try {
      const r = new EnrolmentRegistry({ file: join(dir, 'missing-dir', 'registry.json') });
      await expect(r.createToken('s', null, 60_000)).rejects.toThrow(/ENOENT/);
      const { mkdirSync } = await import('node:fs');
      mkdirSync(join(dir, 'missing-dir'));
      await expect(r.createToken('s', null, 60_000)).resolves.toMatchObject({ token: expect.stringMatching(/^tbx_/) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
