import { mkdtempSync, statSync, readFileSync, writeFileSync, existsSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROLES } from '../../contract/roles.ts';
import { devicesSecretsFileOf, flowsSecretsFileOf, generateSecrets, loadOrCreateDeviceId, loadOrCreateSecrets, readDevicesSecrets, readFlowsSecrets } from './secrets.ts';

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

  it('gives devices and flows files of their own that hold only their own account, no manager token and no other role', () => {
    const file = join(dir(), 'secrets.json');
    const { secrets } = loadOrCreateSecrets(file);
    const devices = readDevicesSecrets(devicesSecretsFileOf(file));
    const flows = readFlowsSecrets(flowsSecretsFileOf(file));
    expect(devices.mqtt.role).toBe('devices');
    expect(flows.mqtt.role).toBe('flows');
    expect(devices.till?.token).toBe(secrets.api.find((t) => t.role === 'till')!.token);
    for (const own of [devicesSecretsFileOf(file), flowsSecretsFileOf(file)]) {
      expect(statSync(own).mode & 0o777).toBe(0o600);
      const text = readFileSync(own, 'utf8');
      for (const a of secrets.mqtt.filter((x) => x.role !== 'devices' && x.role !== 'flows')) expect(text).not.toContain(a.password);
      for (const t of secrets.api.filter((x) => x.role === 'manager')) expect(text).not.toContain(t.token);
      expect(text).not.toContain(secrets.nodeRed.password);
    }
    expect(readFileSync(devicesSecretsFileOf(file), 'utf8')).not.toContain(flows.mqtt.password);
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

  it('generates a Node-RED admin login (bcrypt hash Node-RED accepts) and a credentialSecret per box', () => {
    const a = loadOrCreateSecrets(join(dir(), 'secrets.json')).secrets;
    const b = loadOrCreateSecrets(join(dir(), 'secrets.json')).secrets;
    const bcrypt = createRequire(import.meta.resolve('node-red'))('bcryptjs') as { compareSync(p: string, h: string): boolean };
    expect(bcrypt.compareSync(a.nodeRed.password, a.nodeRed.passwordHash)).toBe(true);
    expect(bcrypt.compareSync(b.nodeRed.password, a.nodeRed.passwordHash)).toBe(false);
    expect(a.nodeRed.password).not.toBe(b.nodeRed.password);
    expect(a.nodeRed.credentialSecret).not.toBe(b.nodeRed.credentialSecret);
    expect(a.nodeRed.credentialSecret.length).toBeGreaterThanOrEqual(64);
  });

  it('adds the Node-RED secrets to a file from an older release, keeping every existing secret', () => {
    const d = dir();
    const file = join(d, 'secrets.json');
    const { nodeRed: _dropped, ...old } = generateSecrets();
    writeFileSync(file, JSON.stringify(old), { mode: 0o600 });
    const loaded = loadOrCreateSecrets(file);
    expect(loaded.created).toBe(false);
    expect(loaded.secrets.mqtt).toEqual(old.mqtt);
    expect(loaded.secrets.api).toEqual(old.api);
    expect(loaded.secrets.nodeRed.username).toBe('admin');
    const onDisk = JSON.parse(readFileSync(file, 'utf8'));
    expect(onDisk.nodeRed).toEqual(loaded.secrets.nodeRed);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(`${file}.lock`)).toBe(false);
    // and it stays put afterwards
    expect(loadOrCreateSecrets(file).secrets.nodeRed).toEqual(loaded.secrets.nodeRed);
  });

  it('breaks a lock left behind by a crash', () => {
    const d = dir();
    const file = join(d, 'secrets.json');
    writeFileSync(`${file}.lock`, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${file}.lock`, old, old);
    expect(loadOrCreateSecrets(file).created).toBe(true);
  });
});
