import { mkdtempSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROLES } from '../../contract/roles.ts';
import { loadOrCreateDeviceId, loadOrCreateSecrets } from './secrets.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'tillbox-secrets-'));

describe('first-start secrets', () => {
  it('generates an account for every role and till tokens, in a file only the owner can read', () => {
    const file = join(dir(), 'secrets.json');
    const { secrets, created } = loadOrCreateSecrets(file);
    expect(created).toBe(true);
    expect(secrets.mqtt.map((a) => a.role).sort()).toEqual([...ROLES].sort());
    expect(secrets.api.some((t) => t.role === 'manager')).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('keeps the same secrets on the next start', () => {
    const file = join(dir(), 'secrets.json');
    const first = loadOrCreateSecrets(file).secrets;
    const again = loadOrCreateSecrets(file);
    expect(again.created).toBe(false);
    expect(again.secrets).toEqual(first);
  });

  it('gives two boxes different passwords and tokens (no universal default)', () => {
    const a = loadOrCreateSecrets(join(dir(), 'secrets.json')).secrets;
    const b = loadOrCreateSecrets(join(dir(), 'secrets.json')).secrets;
    const values = (s: typeof a) => [...s.mqtt.map((x) => x.password), ...s.api.map((x) => x.token)];
    const all = [...values(a), ...values(b)];
    expect(new Set(all).size).toBe(all.length);
    for (const v of all) expect(v.length).toBeGreaterThanOrEqual(32);
  });

  it('generates a device id once and keeps it, unless one is configured', () => {
    const file = join(dir(), 'device-id');
    const id = loadOrCreateDeviceId(file);
    expect(id).toMatch(/^tb-[0-9a-f]{12}$/);
    expect(loadOrCreateDeviceId(file)).toBe(id);
    expect(readFileSync(file, 'utf8').trim()).toBe(id);
    expect(loadOrCreateDeviceId(file, 'configured-1')).toBe('configured-1');
  });
});
